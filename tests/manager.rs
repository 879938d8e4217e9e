//! `balena-extension-manager cleanup` driven as a device runs it, against a
//! fake engine: a small HTTP server on a unix socket in this process that
//! answers the engine API's list, inspect and remove calls from canned
//! containers, images and volumes, and records every DELETE it receives.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use miniserde::json::{self, Value};

const OVERLAY_LABEL: (&str, &str) = ("io.balena.image.class", "overlay");

#[derive(Clone)]
struct FakeContainer {
    id: String,
    name: String,
    image: String,
    image_id: String,
    status: String,
    error: String,
    exit_code: i64,
    labels: Vec<(String, String)>,
    /// (type, name, source, destination)
    mounts: Vec<(String, String, String, String)>,
    /// Returned by the label-filtered list (the engine's filter).
    filtered: bool,
}

fn container(id: &str, image: &str, status: &str, error: &str, exit_code: i64) -> FakeContainer {
    FakeContainer {
        id: format!("{id:0<64}"),
        name: format!("n-{id}"),
        image: image.to_string(),
        image_id: image_id(image),
        status: status.to_string(),
        error: error.to_string(),
        exit_code,
        labels: vec![(OVERLAY_LABEL.0.into(), OVERLAY_LABEL.1.into())],
        mounts: Vec::new(),
        filtered: true,
    }
}

/// A user's container: no extension labels.
fn user_container(id: &str, image: &str, status: &str) -> FakeContainer {
    let mut c = container(id, image, status, "", 0);
    c.labels.clear();
    c.filtered = false;
    c
}

fn image_id(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex:f<64}")
}

#[derive(Default)]
struct World {
    containers: Vec<FakeContainer>,
    /// Extension images: (id, tags).
    images: Vec<(String, Vec<String>)>,
    /// Every volume that exists.
    volumes: Vec<String>,
    /// Container IDs whose DELETE answers 500.
    fail_remove: Vec<String>,
    /// Container IDs listed but gone by the time they are inspected.
    vanish: Vec<String>,
    /// "DELETE /containers/ID", "DELETE /images/NAME", ... in order.
    deletes: Vec<String>,
    /// Every request line, version prefix dropped.
    requests: Vec<String>,
    /// The engine stops (its socket goes) after this many requests; 0: never.
    die_after: usize,
    /// The engine hangs (accepts, never answers) after this many; 0: never.
    hang_after: usize,
}

struct Fake {
    _dir: TempDir,
    socket: PathBuf,
    world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    fn start(world: World) -> Fake {
        let dir = TempDir::new("engine");
        let socket = dir.join("engine.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let world = Arc::new(Mutex::new(world));
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s, path) = (world.clone(), stop.clone(), socket.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let hung = {
                    let w = w.lock().unwrap();
                    w.hang_after > 0 && w.requests.len() >= w.hang_after
                };
                match conn {
                    Ok(conn) if hung => held.push(conn),
                    Ok(conn) => serve(conn, &w),
                    Err(_) => {}
                }
                let w = w.lock().unwrap();
                if w.die_after > 0 && w.requests.len() >= w.die_after {
                    let _ = fs::remove_file(&path);
                    break;
                }
            }
        });
        Fake {
            _dir: dir,
            socket,
            world,
            stop,
            thread: Some(thread),
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn deletes(&self) -> Vec<String> {
        self.world.lock().unwrap().deletes.clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.socket);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: UnixStream, world: &Mutex<World>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let (status, body) = answer(&method, &target, &mut world.lock().unwrap());
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Internal Server Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
}

fn message(text: &str) -> String {
    format!("{{\"message\":{}}}", json::to_string(&text))
}

fn labels_json(labels: &[(String, String)]) -> String {
    let map: BTreeMap<String, String> = labels.iter().cloned().collect();
    json::to_string(&map)
}

/// The engine API, as much of it as cleanup uses.
fn answer(method: &str, target: &str, w: &mut World) -> (u16, String) {
    let target = match target.strip_prefix("/v1.") {
        Some(rest) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    w.requests.push(format!("{method} {path}"));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        ("GET", ["containers", "json"]) => {
            let filtered = query.contains("filters");
            let list: Vec<String> = w
                .containers
                .iter()
                .filter(|c| !filtered || c.filtered)
                .map(|c| {
                    format!(
                        "{{\"Id\":\"{}\",\"Names\":[\"/{}\"],\"Image\":\"{}\",\"ImageID\":\"{}\",\
                         \"Command\":\"\",\"Created\":1,\"State\":\"{}\",\"Status\":\"x\",\
                         \"Labels\":{},\"Mounts\":[]}}",
                        c.id,
                        c.name,
                        c.image,
                        c.image_id,
                        c.status,
                        labels_json(&c.labels)
                    )
                })
                .collect();
            (200, format!("[{}]", list.join(",")))
        }
        ("GET", ["containers", id, "json"]) => match w
            .containers
            .iter()
            .find(|c| c.id == *id && !w.vanish.contains(&c.id))
        {
            None => (404, message(&format!("No such container: {id}"))),
            Some(c) => {
                let mounts: Vec<String> = c
                    .mounts
                    .iter()
                    .map(|(kind, name, source, dest)| {
                        format!(
                            "{{\"Type\":\"{kind}\",\"Name\":\"{name}\",\"Source\":\"{source}\",\
                             \"Destination\":\"{dest}\",\"Driver\":\"local\",\"Mode\":\"\",\
                             \"RW\":true,\"Propagation\":\"\"}}"
                        )
                    })
                    .collect();
                let body = format!(
                    "{{\"Id\":\"{}\",\"Created\":\"2026-12-05T07:00:00Z\",\"Path\":\"/x\",\"Args\":[],\
                     \"State\":{{\"Status\":\"{}\",\"Running\":false,\"Paused\":false,\
                     \"Restarting\":false,\"OOMKilled\":false,\"Dead\":false,\"Pid\":0,\
                     \"ExitCode\":{},\"Error\":{},\"StartedAt\":\"\",\"FinishedAt\":\"\"}},\
                     \"Image\":\"{}\",\"Name\":\"/{}\",\"RestartCount\":0,\
                     \"Mounts\":[{}],\"Config\":{{\"Image\":\"{}\",\"Labels\":{}}}}}",
                    c.id,
                    c.status,
                    c.exit_code,
                    json::to_string(&c.error),
                    c.image_id,
                    c.name,
                    mounts.join(","),
                    c.image,
                    labels_json(&c.labels)
                );
                (200, body)
            }
        },
        ("DELETE", ["containers", id]) => {
            w.deletes.push(format!("DELETE /containers/{id}"));
            if w.fail_remove.iter().any(|f| f == id) {
                return (500, message("driver failed to remove root filesystem"));
            }
            let Some(i) = w.containers.iter().position(|c| c.id == *id) else {
                return (404, message(&format!("No such container: {id}")));
            };
            let c = w.containers.remove(i);
            // v=1: its anonymous volumes go with it.
            if query.contains("v=1") || query.contains("v=true") {
                w.volumes.retain(|v| {
                    !(v.len() == 64 && c.mounts.iter().any(|m| m.0 == "volume" && m.1 == *v))
                });
            }
            (204, String::new())
        }
        ("GET", ["images", "json"]) => {
            let list: Vec<String> = w
                .images
                .iter()
                .map(|(id, tags)| {
                    format!(
                        "{{\"Id\":\"{id}\",\"ParentId\":\"\",\"RepoTags\":{},\"RepoDigests\":null,\
                         \"Created\":1,\"Size\":1,\"SharedSize\":-1,\"VirtualSize\":1,\
                         \"Labels\":{{\"io.balena.image.class\":\"overlay\"}},\"Containers\":-1}}",
                        json::to_string(tags)
                    )
                })
                .collect();
            (200, format!("[{}]", list.join(",")))
        }
        ("DELETE", ["images", name @ ..]) => {
            let name = name.join("/");
            w.deletes.push(format!("DELETE /images/{name}"));
            let Some(i) = w
                .images
                .iter()
                .position(|(id, tags)| *id == name || tags.contains(&name))
            else {
                return (404, message(&format!("No such image: {name}")));
            };
            let id = w.images[i].0.clone();
            if w.containers.iter().any(|c| c.image_id == id) {
                return (409, message("conflict: image is being used by a container"));
            }
            // As the engine does: a name with others beside it only untags;
            // an ID with several names is refused without force.
            if w.images[i].1.len() > 1 {
                if name == id {
                    return (
                        409,
                        message("conflict: unable to delete (must be forced) - image is referenced in multiple repositories"),
                    );
                }
                w.images[i].1.retain(|t| *t != name);
                return (200, format!("[{{\"Untagged\":\"{name}\"}}]"));
            }
            w.images.remove(i);
            (200, format!("[{{\"Deleted\":\"{id}\"}}]"))
        }
        ("GET", ["volumes"]) => {
            let dangling: Vec<String> = w
                .volumes
                .iter()
                .filter(|v| {
                    !w.containers
                        .iter()
                        .any(|c| c.mounts.iter().any(|m| m.0 == "volume" && m.1 == **v))
                })
                .map(|v| {
                    format!(
                        "{{\"Name\":\"{v}\",\"Driver\":\"local\",\"Mountpoint\":\"/v/{v}\",\
                         \"Labels\":null,\"Scope\":\"local\",\"Options\":null}}"
                    )
                })
                .collect();
            (
                200,
                format!("{{\"Volumes\":[{}],\"Warnings\":null}}", dangling.join(",")),
            )
        }
        ("DELETE", ["volumes", name]) => {
            w.deletes.push(format!("DELETE /volumes/{name}"));
            match w.volumes.iter().position(|v| v == name) {
                None => (404, message(&format!("get {name}: no such volume"))),
                Some(i) => {
                    w.volumes.remove(i);
                    (204, String::new())
                }
            }
        }
        ("GET", ["_ping"]) | ("HEAD", ["_ping"]) => (200, "OK".to_string()),
        ("GET", ["version"]) => (
            200,
            "{\"Version\":\"20.10.24\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}"
                .to_string(),
        ),
        _ => (404, message(&format!("page not found: {method} {path}"))),
    }
}

/// A test's world: a temp dir holding the lock file and a host root.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new(tag: &str) -> Env {
        let dir = TempDir::new(tag);
        fs::create_dir_all(dir.join("host")).unwrap();
        Env { dir }
    }

    fn lock(&self) -> PathBuf {
        self.dir.join("manager.lock")
    }

    /// A host root with this kernel release, ABI token and OS version.
    fn host(&self, release: &str, abi: Option<&str>, os: Option<&str>) -> PathBuf {
        let root = self.dir.join("host");
        fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(
            root.join("proc/sys/kernel/osrelease"),
            format!("{release}\n"),
        )
        .unwrap();
        let cmdline = match abi {
            Some(a) => format!("root=/dev/mmcblk0p2 balena_kernel_abi={a} quiet\n"),
            None => "root=/dev/mmcblk0p2 quiet\n".to_string(),
        };
        fs::write(root.join("proc/cmdline"), cmdline).unwrap();
        if let Some(os) = os {
            fs::write(
                root.join("etc/os-release"),
                format!("ID=balena-os\nVERSION_ID={os}\n"),
            )
            .unwrap();
        }
        root
    }

    fn command(&self, fake: &Fake, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.args(["manager", "cleanup", "--host", &fake.host()])
            .arg("--lock-file")
            .arg(self.lock())
            .arg("--host-root")
            .arg(self.dir.join("host"))
            .args(args)
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, fake: &Fake, args: &[&str]) -> Output {
        retry_busy(|| self.command(fake, args).output()).unwrap()
    }
}

fn lines(o: &Output) -> Vec<String> {
    stdout(o).lines().map(String::from).collect()
}

fn json_doc(o: &Output) -> BTreeMap<String, Value> {
    let text = stdout(o);
    let obj: json::Object =
        json::from_str(&text).unwrap_or_else(|_| panic!("not a JSON document: {text}"));
    obj.into_iter().collect()
}

fn array<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    match v {
        Value::Array(a) => a,
        _ => panic!("{what} is not an array"),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    match v {
        Value::Object(o) => match o.get(key) {
            Some(Value::String(s)) => s,
            _ => "",
        },
        _ => panic!("not an object"),
    }
}

/// Containers in every state cleanup decides on, an image used by a kept
/// extension, one used only by zombies, and a user's container and image.
fn mixed() -> World {
    let mut zombie_created = container("a1", "ext-a:1", "created", "oci runtime error: boom", 0);
    zombie_created.mounts.push((
        "volume".into(),
        "a".repeat(64),
        "/nonexistent/anon".into(),
        "/boot".into(),
    ));
    let mut rejected = container("a2", "ext-a:1", "exited", "", 7);
    rejected.mounts.push((
        "volume".into(),
        "ext-a-data".into(),
        "/nonexistent/named".into(),
        "/data".into(),
    ));
    World {
        containers: vec![
            zombie_created,
            rejected,
            container("a3", "ext-b:1", "dead", "", 0),
            container("a4", "ext-b:1", "exited", "", 0),
            container("a5", "ext-c:1", "created", "", 0),
            container("a6", "ext-c:1", "running", "", 0),
            container("a7", "ext-d:1", "exited", "exec format error", 1),
            user_container("u1", "user:1", "exited"),
        ],
        images: vec![
            (image_id("ext-a:1"), vec!["ext-a:1".into()]),
            (image_id("ext-b:1"), vec!["ext-b:1".into()]),
            (image_id("ext-c:1"), vec!["ext-c:1".into()]),
            (image_id("ext-d:1"), vec!["ext-d:1".into()]),
            (image_id("ext-e:1"), vec![]),
        ],
        volumes: vec!["a".repeat(64), "ext-a-data".into(), "users-own".into()],
        ..World::default()
    }
}

fn id(short: &str) -> String {
    format!("{short:0<64}")
}

#[test]
fn removes_exactly_the_zombies_then_their_unused_images_and_volumes() {
    let env = Env::new("mixed");
    let fake = Fake::start(mixed());
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let mut want: Vec<String> = ["a1", "a2", "a3", "a7"]
        .iter()
        .map(|c| format!("DELETE /containers/{}", id(c)))
        .collect();
    want.push(format!("DELETE /images/{}", image_id("ext-a:1")));
    want.push(format!("DELETE /images/{}", image_id("ext-d:1")));
    want.push(format!("DELETE /images/{}", image_id("ext-e:1")));
    want.push("DELETE /volumes/ext-a-data".to_string());
    assert_eq!(fake.deletes(), want);
    let out = lines(&o);
    assert_eq!(
        out,
        [
            "removed container a10000000000 (ext-a:1, created): create failed: oci runtime error: boom",
            "removed container a20000000000 (ext-a:1, exited): rejected: start hook exited 7",
            "removed container a30000000000 (ext-b:1, dead): dead",
            "removed container a70000000000 (ext-d:1, exited): start failed: exec format error",
            &format!("removed image {} (ext-a:1)", &image_id("ext-a:1")[7..19]),
            &format!("removed image {} (ext-d:1)", &image_id("ext-d:1")[7..19]),
            &format!("removed image {} (<none>)", &image_id("ext-e:1")[7..19]),
            "removed volume ext-a-data",
            "cleanup: removed 4 containers, 3 images, 1 volume; kept 3; 0 failed",
        ]
    );
    let w = fake.world.lock().unwrap();
    assert!(w.volumes.contains(&"users-own".to_string()));
    assert!(w.containers.iter().any(|c| c.id == id("u1")));
}

#[test]
fn a_dry_run_sends_no_delete_and_prints_the_same() {
    let env = Env::new("dry");
    let real = Fake::start(mixed());
    let o_real = env.run(&real, &[]);
    assert_eq!(o_real.status.code(), Some(0), "{}", stderr(&o_real));
    let fake = Fake::start(mixed());
    let o = env.run(&fake, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fake.deletes().is_empty(), "{:?}", fake.deletes());
    let (mut dry, mut wet) = (lines(&o), lines(&o_real));
    let (dry_summary, wet_summary) = (dry.pop().unwrap(), wet.pop().unwrap());
    assert_eq!(dry, wet);
    assert_eq!(
        dry_summary,
        "cleanup (dry run): would remove 4 containers, 3 images, 1 volume; kept 3; 0 failed"
    );
    assert_eq!(
        wet_summary,
        "cleanup: removed 4 containers, 3 images, 1 volume; kept 3; 0 failed"
    );
    // The JSON documents differ in dryRun only.
    let fake = Fake::start(mixed());
    let dry_json = stdout(&env.run(&fake, &["--dry-run", "--json"]));
    let real = Fake::start(mixed());
    let wet_json = stdout(&env.run(&real, &["--json"]));
    assert_eq!(
        dry_json.replace("\"dryRun\": true", "\"dryRun\": false"),
        wet_json
    );
}

#[test]
fn json_is_one_document_with_every_decision() {
    let env = Env::new("json");
    let fake = Fake::start(mixed());
    let o = env.run(&fake, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_doc(&o);
    assert!(matches!(doc["dryRun"], Value::Bool(false)));
    assert!(matches!(doc["staleOs"], Value::Bool(false)));
    assert!(matches!(doc["host"], Value::Null));
    let containers = array(&doc["containers"], "containers");
    assert_eq!(containers.len(), 7);
    let by_id = |short: &str| {
        containers
            .iter()
            .find(|c| str_field(c, "id") == id(short))
            .unwrap_or_else(|| panic!("{short} missing"))
    };
    assert_eq!(str_field(by_id("a1"), "action"), "removed");
    assert_eq!(
        str_field(by_id("a1"), "reason"),
        "create failed: oci runtime error: boom"
    );
    assert_eq!(str_field(by_id("a4"), "action"), "kept");
    assert_eq!(str_field(by_id("a4"), "reason"), "installed");
    assert_eq!(str_field(by_id("a5"), "action"), "kept");
    assert_eq!(str_field(by_id("a6"), "reason"), "running");
    assert_eq!(str_field(by_id("a2"), "image"), "ext-a:1");
    let images = array(&doc["images"], "images");
    let removed = images
        .iter()
        .filter(|i| str_field(i, "action") == "removed")
        .count();
    assert_eq!(removed, 3);
    let volumes = array(&doc["volumes"], "volumes");
    assert_eq!(volumes.len(), 1);
    assert_eq!(str_field(&volumes[0], "name"), "ext-a-data");
    assert!(array(&doc["errors"], "errors").is_empty());
    assert!(array(&doc["warnings"], "warnings").is_empty());
    match &doc["summary"] {
        Value::Object(s) => {
            assert_eq!(json::to_string(&s["containersRemoved"]), "4");
            assert_eq!(json::to_string(&s["failed"]), "0");
        }
        _ => panic!("summary is not an object"),
    }
}

#[test]
fn a_container_the_filter_let_through_without_the_label_is_left_alone() {
    let env = Env::new("liar");
    let mut liar = user_container("b1", "user:1", "dead");
    liar.filtered = true;
    let fake = Fake::start(World {
        containers: vec![liar],
        ..World::default()
    });
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fake.deletes().is_empty());
    assert!(stderr(&o).contains("is not labelled io.balena.image.class=overlay: left alone"));
}

const KERNEL: &str = "io.balena.image.kernel-version";
const ABI: &str = "io.balena.image.kernel-abi-id";
const OS: &str = "io.balena.image.os-version";

fn labelled(c: &str, labels: &[(&str, &str)]) -> FakeContainer {
    let mut x = container(c, &format!("ext-{c}:1"), "exited", "", 0);
    for (k, v) in labels {
        x.labels.push((k.to_string(), v.to_string()));
    }
    x
}

#[test]
fn stale_os_removes_what_claims_another_kernel_or_os_and_keeps_doubts() {
    let env = Env::new("stale");
    let abi = "b".repeat(64);
    let other_abi = "c".repeat(64);
    env.host("6.1.77-v8", Some(&abi), Some("6.0.13"));
    let fake = Fake::start(World {
        containers: vec![
            labelled("s1", &[(KERNEL, "5.15.92")]),
            labelled("s2", &[(ABI, &other_abi)]),
            labelled("s3", &[(OS, "5.*")]),
            labelled("h1", &[(KERNEL, "6.1.77"), (ABI, &abi), (OS, "6.*,7.*")]),
            labelled("d1", &[(KERNEL, "not-a-version")]),
            labelled("n1", &[]),
        ],
        ..World::default()
    });
    let o = env.run(&fake, &["--stale-os"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let want: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|c| format!("DELETE /containers/{}", id(c)))
        .collect();
    assert_eq!(fake.deletes(), want);
    let out = stdout(&o);
    assert!(
        out.contains("removed container s10000000000 (ext-s1:1, exited): stale: "),
        "{out}"
    );
    assert!(out.ends_with("cleanup: removed 3 containers, 0 images, 0 volumes; kept 3; 0 failed\n"));
    let err = stderr(&o);
    assert!(
        err.contains("warning: kept container d10000000000 (ext-d1:1, exited): cannot tell whether it is stale: "),
        "{err}"
    );
    // Without --stale-os, nothing of it is looked at.
    let fake = Fake::start(World {
        containers: vec![labelled("s1", &[(KERNEL, "5.15.92")])],
        ..World::default()
    });
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(fake.deletes().is_empty());
}

#[test]
fn stale_os_json_shows_the_host_and_the_warnings() {
    let env = Env::new("stalejson");
    env.host("6.1.77", None, None);
    let fake = Fake::start(World {
        containers: vec![labelled("d1", &[(OS, "6.*")])],
        ..World::default()
    });
    let o = env.run(&fake, &["--stale-os", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_doc(&o);
    assert_eq!(str_field(&doc["host"], "kernelRelease"), "6.1.77");
    assert!(matches!(doc["staleOs"], Value::Bool(true)));
    let warnings = array(&doc["warnings"], "warnings");
    assert_eq!(warnings.len(), 1);
    assert!(fake.deletes().is_empty());
}

/// A stale kernel-override extension whose volume holds a deactivate hook.
fn override_world(volume: &Path) -> World {
    let mut c = labelled(
        "k1",
        &[(KERNEL, "5.15.92"), ("io.balena.image.override", "1")],
    );
    c.mounts.push((
        "volume".into(),
        "b".repeat(64),
        volume.display().to_string(),
        "/boot".into(),
    ));
    World {
        volumes: vec!["b".repeat(64)],
        images: vec![(image_id("ext-k1:1"), vec!["ext-k1:1".into()])],
        containers: vec![c],
        ..World::default()
    }
}

#[test]
fn deactivate_runs_before_a_stale_extension_goes() {
    let env = Env::new("deact");
    env.host("6.1.77", None, None);
    let volume = env.dir.join("volume");
    let record = env.dir.join("env.txt");
    write_script(
        &volume.join("deactivate"),
        &format!(
            "#!/bin/sh\nenv > {}\necho undoing the kernel override\n",
            record.display()
        ),
    );
    let fake = Fake::start(override_world(&volume));
    let o = env.run(&fake, &["--stale-os"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        fake.deletes(),
        [
            format!("DELETE /containers/{}", id("k1")),
            format!("DELETE /images/{}", image_id("ext-k1:1")),
        ]
    );
    let seen = fs::read_to_string(&record).expect("deactivate ran");
    let vars: Vec<&str> = seen.lines().collect();
    assert!(vars.contains(&format!("EXTENSION_ROOTFS={}", volume.display()).as_str()));
    assert!(vars.contains(&format!("EXTENSION_VOLUME_BOOT={}", volume.display()).as_str()));
    assert!(vars.contains(&format!("EXTENSION_CONTAINER_ID={}", id("k1")).as_str()));
    assert!(vars.contains(&"EXTENSION_IMAGE_OVERRIDE=1"));
    assert!(vars.contains(&"EXTENSION_IMAGE_KERNEL_VERSION=5.15.92"));
    assert!(!seen.contains("DOCKER_HOST"), "a clean environment");
    // Its output goes to stderr; stdout stays the report.
    assert!(stderr(&o).contains("undoing the kernel override"));
    assert!(!stdout(&o).contains("undoing"));

    // A dry run runs no hook.
    fs::remove_file(&record).unwrap();
    let fake = Fake::start(override_world(&volume));
    let o = env.run(&fake, &["--stale-os", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!record.exists(), "a dry run must not run deactivate");
    assert!(fake.deletes().is_empty());
}

#[test]
fn a_failing_deactivate_keeps_its_container_and_fails_the_run() {
    let env = Env::new("deactfail");
    env.host("6.1.77", None, None);
    let volume = env.dir.join("volume");
    write_script(
        &volume.join("deactivate"),
        "#!/bin/sh\necho cannot restore the old kernel >&2\nexit 3\n",
    );
    let mut world = override_world(&volume);
    world
        .containers
        .push(container("z1", "ext-z:1", "dead", "", 0));
    let fake = Fake::start(world);
    let o = env.run(&fake, &["--stale-os"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    // The other container still went; the image of the kept one stays.
    assert_eq!(fake.deletes(), [format!("DELETE /containers/{}", id("z1"))]);
    assert_eq!(
        lines(&o)[0],
        "kept container k10000000000 (ext-k1:1, exited): \
         deactivate failed (exit status 3): cannot restore the old kernel"
    );
    assert!(stdout(&o).ends_with("kept 0; 1 failed\n"), "{}", stdout(&o));
}

#[test]
fn a_deactivate_that_is_not_executable_is_not_run_and_said_so() {
    let env = Env::new("deactnox");
    env.host("6.1.77", None, None);
    let volume = env.dir.join("volume");
    let ran = env.dir.join("ran");
    write_script(
        &volume.join("deactivate"),
        &format!("#!/bin/sh\ntouch {}\n", ran.display()),
    );
    fs::set_permissions(
        volume.join("deactivate"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let fake = Fake::start(override_world(&volume));
    let o = env.run(&fake, &["--stale-os"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(!ran.exists());
    assert!(
        stderr(&o).contains("deactivate is not executable: not run"),
        "{}",
        stderr(&o)
    );
    assert!(fake
        .deletes()
        .contains(&format!("DELETE /containers/{}", id("k1"))));
}

#[test]
fn one_failed_removal_does_not_stop_the_others() {
    let env = Env::new("fail500");
    let mut world = mixed();
    world.fail_remove.push(id("a2"));
    let fake = Fake::start(world);
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let deletes = fake.deletes();
    for c in ["a1", "a2", "a3", "a7"] {
        assert!(
            deletes.contains(&format!("DELETE /containers/{}", id(c))),
            "{c}"
        );
    }
    // ext-a:1 is still used by the container that failed to go.
    assert!(!deletes.contains(&format!("DELETE /images/{}", image_id("ext-a:1"))));
    assert!(deletes.contains(&format!("DELETE /images/{}", image_id("ext-d:1"))));
    let out = stdout(&o);
    assert!(
        out.contains("failed to remove container a20000000000 (ext-a:1, exited): "),
        "{out}"
    );
    assert!(
        out.contains("driver failed to remove root filesystem"),
        "{out}"
    );
    assert!(out.ends_with("; kept 3; 1 failed\n"), "{out}");
}

#[test]
fn an_image_with_several_names_goes_one_name_at_a_time() {
    let env = Env::new("tags");
    let fake = Fake::start(World {
        containers: vec![container("t1", "ext-t:1", "dead", "", 0)],
        images: vec![(
            image_id("ext-t:1"),
            vec!["ext-t:1".into(), "ext-t:latest".into()],
        )],
        ..World::default()
    });
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        fake.deletes()[1..],
        ["DELETE /images/ext-t:1", "DELETE /images/ext-t:latest"]
    );
    assert!(fake.world.lock().unwrap().images.is_empty());
    assert!(stdout(&o).contains(&format!(
        "removed image {} (ext-t:1, ext-t:latest)\n",
        &image_id("ext-t:1")[7..19]
    )));
}

#[test]
fn a_container_removed_meanwhile_is_no_failure() {
    let env = Env::new("vanish");
    let mut world = mixed();
    world.vanish.push(id("a3"));
    let fake = Fake::start(world);
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(!fake
        .deletes()
        .contains(&format!("DELETE /containers/{}", id("a3"))));
    assert!(
        stdout(&o)
            .ends_with("cleanup: removed 3 containers, 3 images, 1 volume; kept 3; 0 failed\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_rerun_finishes_what_is_left_and_a_clean_device_is_quiet() {
    let env = Env::new("rerun");
    let fake = Fake::start(mixed());
    assert_eq!(env.run(&fake, &[]).status.code(), Some(0));
    let before = fake.deletes().len();
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(fake.deletes().len(), before, "nothing left to remove");
    assert_eq!(
        lines(&o),
        ["cleanup: removed 0 containers, 0 images, 0 volumes; kept 3; 0 failed"]
    );
}

#[test]
fn an_engine_that_stops_midway_stops_the_sweep_and_a_rerun_finishes() {
    let env = Env::new("dies");
    let mut world = mixed();
    // The list, two inspects and a remove, then the next inspect finds no
    // engine.
    world.die_after = 3;
    let fake = Fake::start(world);
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = lines(&o);
    assert_eq!(
        out[0],
        "removed container a10000000000 (ext-a:1, created): create failed: oci runtime error: boom"
    );
    assert!(out[1].starts_with("failed to inspect container a20000000000 (exited): "));
    assert!(
        out[2].starts_with("the engine at ")
            && out[2].ends_with("stopped answering: cleanup stopped early (run it again)"),
        "{}",
        out[2]
    );
    assert!(
        out[3].starts_with("cleanup: removed 1 container, 0 images, 0 volumes; kept 0; 2 failed")
    );
    assert_eq!(out.len(), 4);
    drop(fake);

    // The engine is back, with what the first run left.
    let mut world = mixed();
    world.containers.retain(|c| c.id != id("a1"));
    world.volumes.retain(|v| v.len() != 64);
    let fake = Fake::start(world);
    let o = env.run(&fake, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        lines(&o).last().unwrap(),
        "cleanup: removed 3 containers, 3 images, 1 volume; kept 3; 0 failed"
    );
}

#[test]
fn an_engine_that_hangs_midway_stops_the_sweep_within_its_time_limits() {
    let env = Env::new("hangs");
    let mut world = mixed();
    world.hang_after = 3;
    let fake = Fake::start(world);
    let o = env.run(&fake, &["--timeout", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = lines(&o);
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(out[1].starts_with("failed to inspect container a20000000000 (exited): "));
    assert!(out[2].contains("stopped answering"), "{}", out[2]);
}

#[test]
fn an_engine_that_is_not_there_is_one_clear_error() {
    let env = Env::new("noengine");
    let missing = env.dir.join("nope.sock");
    let o = Command::new(binary())
        .args(["manager", "cleanup", "--host"])
        .arg(format!("unix://{}", missing.display()))
        .arg("--lock-file")
        .arg(env.lock())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("manager: cannot list extension containers: "),
        "{err}"
    );
    assert!(err.contains("nope.sock"), "{err}");
}

#[test]
fn log_level_chooses_what_goes_to_stderr() {
    let env = Env::new("levels");
    env.host("6.1.77", None, None);
    let world = || {
        let mut liar = user_container("b1", "user:1", "dead");
        liar.filtered = true;
        World {
            containers: vec![liar, container("a4", "ext-b:1", "exited", "", 0)],
            ..World::default()
        }
    };
    let fake = Fake::start(world());
    let o = env.run(&fake, &["--log-level", "error"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "", "no warnings at level error");
    let fake = Fake::start(world());
    let o = env.run(&fake, &["--log-level", "debug"]);
    let err = stderr(&o);
    assert!(
        err.contains("warning: container b10000000000 is not labelled"),
        "{err}"
    );
    assert!(
        err.contains("kept container a40000000000 (ext-b:1, exited): installed"),
        "{err}"
    );
    // The report itself is the same at every level.
    assert_eq!(
        lines(&o),
        ["cleanup: removed 0 containers, 0 images, 0 volumes; kept 1; 0 failed"]
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["cleanup", "--host", "tcp://127.0.0.1:2375"][..],
        &["cleanup", "--bogus"],
        &["frobnicate"],
        &[],
        &["cleanup", "extra"],
        &["cleanup", "--lock-wait", "soon"],
        &["cleanup", "--timeout", "0"],
        &["cleanup", "--log-level", "loud"],
        &["cleanup", "--host-root", "/nonexistent-root"],
    ] {
        let o = Command::new(binary())
            .arg("manager")
            .args(args)
            .arg("--lock-file")
            .arg("/nonexistent-dir/lock")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}");
    }
    // DOCKER_HOST with another scheme is the same mistake.
    let o = Command::new(binary())
        .args(["manager", "cleanup"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:2375")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_applet_answers_to_its_installed_name() {
    let dir = TempDir::new("names");
    install(dir.path());
    let o = run(&dir.join("balena-extension-manager"), &["--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("Usage: balena-extension-manager cleanup"));
    let env = Env::new("names2");
    let fake = Fake::start(World::default());
    let o = run(
        &dir.join("balena-extension-manager"),
        &[
            "cleanup",
            "--host",
            &fake.host(),
            "--lock-file",
            env.lock().to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "cleanup: removed 0 containers, 0 images, 0 volumes; kept 0; 0 failed\n"
    );
}

/// Holds an flock on the lock file, as another manager would.
fn hold_lock(path: &Path, pid: &str) -> fs::File {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(r, 0);
    (&f).write_all(pid.as_bytes()).unwrap();
    f
}

#[test]
fn a_second_manager_waits_then_names_the_first() {
    let env = Env::new("lock");
    let fake = Fake::start(mixed());
    // The holder is this test process: named, as /proc/locks shows it.
    let me = std::process::id();
    let held = hold_lock(&env.lock(), &format!("{me}\n"));
    let o = env.run(&fake, &["--lock-wait", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "manager: another manager (pid {me}) holds {}; gave up after 1s\n",
            env.lock().display()
        )
    );
    assert!(
        fake.world.lock().unwrap().requests.is_empty(),
        "no engine call"
    );
    // Once the first is done, the next one runs; its PID is there only
    // while it holds the lock.
    drop(held);
    let mut child = env
        .command(&fake, &["--lock-wait", "5"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(fs::read_to_string(env.lock()).unwrap(), "");
}

#[test]
fn a_missing_lock_directory_is_a_clear_error() {
    let env = Env::new("lockdir");
    let fake = Fake::start(World::default());
    let o = env.run(&fake, &["--lock-file", "/nonexistent-dir/manager.lock"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "manager: cannot open lock file /nonexistent-dir/manager.lock: no such file or directory\n"
    );
}
