//! The container engine's HTTP API (balena-engine, or Docker 20.10 it is
//! forked from), reached over its unix socket: the few calls the manager
//! needs, each answer checked field by field. The engine's JSON is never
//! trusted: a bad, truncated, huge or wrongly-typed answer is an error that
//! names the call.

pub mod http;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use miniserde::Deserialize;

use crate::error::{Error, Result};
use crate::labels::{CLASS, REQUIRED_CLASS};

/// Where balena-engine listens on a device.
pub const DEFAULT_HOST: &str = "unix:///var/run/balena-engine.sock";

/// Default time limit on each call: connecting, sending, the whole answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every path starts with the API version, so that the engine answers in
/// the shapes parsed here whatever its own version. Engines accept any
/// version from their minimum up to their own; 1.40 is the newest that
/// both the 19.03-based balena-engine of older balenaOS releases (its
/// maximum) and the 20.10-based one and Docker 20.10 (maximum 1.41) accept.
const API: &str = "/v1.40";

/// The socket to talk to: `host` (from `--host`), else `$DOCKER_HOST`, else
/// [`DEFAULT_HOST`]. Only `unix://PATH` is accepted; any other scheme is a
/// usage error naming it.
pub fn socket_path(host: Option<&str>) -> Result<PathBuf> {
    parse_host(host, std::env::var_os("DOCKER_HOST"))
}

/// [`socket_path`] with the environment's value passed in. An empty
/// `DOCKER_HOST` counts as unset, as the Docker CLI has it.
fn parse_host(flag: Option<&str>, env: Option<OsString>) -> Result<PathBuf> {
    let env = env.filter(|v| !v.is_empty());
    let (source, value) = match (flag, &env) {
        (Some(flag), _) => ("--host", flag.to_string()),
        (None, Some(env)) => (
            "DOCKER_HOST",
            env.to_str()
                .ok_or_else(|| Error::usage("DOCKER_HOST is not UTF-8"))?
                .to_string(),
        ),
        (None, None) => return Ok(PathBuf::from(&DEFAULT_HOST["unix://".len()..])),
    };
    match value.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => Err(Error::usage(format!(
            "{source} {}: only unix:///absolute/path is supported",
            crate::json::quote(&value)
        ))),
    }
}

/// One container as the list call shows it.
#[derive(Deserialize)]
pub struct Summary {
    /// The full 64-hex ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// The image's ID (`sha256:...`).
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// `created`, `running`, `exited`, `dead`, ...
    #[serde(rename = "State")]
    pub state: String,
}

/// One container as inspect shows it: what cleanup decides on.
pub struct Container {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// `Config.Image`: the name the user gave (`ext:v2`).
    pub image_name: String,
    /// `Image`: the image's ID (`sha256:...`).
    pub image_id: String,
    /// `State.Status`.
    pub status: String,
    /// `State.Error`: set when the runtime's create or start failed.
    pub error: String,
    /// `State.ExitCode`.
    pub exit_code: i64,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
}

/// One entry of a container's `Mounts`.
pub struct Mount {
    /// `volume`, `bind`, `tmpfs`, ...
    pub kind: String,
    /// The volume's name (empty for other kinds).
    pub name: String,
    /// The path on the host.
    pub source: String,
    /// The path in the container.
    pub destination: String,
}

/// One image as the list call shows it.
pub struct Image {
    /// `sha256:...`
    pub id: String,
    /// `RepoTags`, possibly empty.
    pub tags: Vec<String>,
}

// The engine's JSON, as far as it is read. Fields the engine always writes
// are required: one missing makes the answer an error, never a guess. Go
// writes nil maps and slices as `null`, which miniserde refuses for a map
// or a Vec: those are Options, and so is what Go omits when empty (a
// mount's Name). Unknown fields are skipped.

#[derive(Deserialize)]
struct ContainerJson {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "State")]
    state: StateJson,
    #[serde(rename = "Config")]
    config: ConfigJson,
    #[serde(rename = "Mounts")]
    mounts: Option<Vec<MountJson>>,
}

#[derive(Deserialize)]
struct StateJson {
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "Error")]
    error: String,
    #[serde(rename = "ExitCode")]
    exit_code: i64,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct MountJson {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Source")]
    source: String,
    #[serde(rename = "Destination")]
    destination: String,
}

#[derive(Deserialize)]
struct ImageJson {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "RepoTags")]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct VolumesJson {
    #[serde(rename = "Volumes")]
    volumes: Option<Vec<VolumeJson>>,
}

#[derive(Deserialize)]
struct VolumeJson {
    #[serde(rename = "Name")]
    name: String,
}

/// The body of an engine's error answer.
#[derive(Deserialize)]
struct ErrorJson {
    message: Option<String>,
}

/// Parses an answer's body as `T`; errors say what was expected.
fn decode<T: Deserialize>(body: &[u8], expected: &str) -> Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| Error::new("the answer is not UTF-8 text"))?;
    miniserde::json::from_str(text).map_err(|_| crate::json::invalid(text, &"the answer", expected))
}

/// The body of `GET /containers/json`.
pub fn parse_containers(body: &[u8]) -> Result<Vec<Summary>> {
    decode(body, "a container list")
}

/// The body of `GET /containers/{id}/json`.
pub fn parse_container(body: &[u8]) -> Result<Container> {
    let c: ContainerJson = decode(body, "a container")?;
    let mut mounts = Vec::new();
    for m in c.mounts.unwrap_or_default() {
        mounts.push(Mount {
            kind: m.kind,
            name: m.name.unwrap_or_default(),
            source: m.source,
            destination: m.destination,
        });
    }
    Ok(Container {
        id: c.id,
        name: match c.name.strip_prefix('/') {
            Some(name) => name.to_string(),
            None => c.name,
        },
        image_name: c.config.image,
        image_id: c.image,
        status: c.state.status,
        error: c.state.error,
        exit_code: c.state.exit_code,
        labels: c.config.labels.unwrap_or_default(),
        mounts,
    })
}

/// The body of `GET /images/json`.
pub fn parse_images(body: &[u8]) -> Result<Vec<Image>> {
    let list: Vec<ImageJson> = decode(body, "an image list")?;
    let mut images = Vec::new();
    for i in list {
        images.push(Image {
            id: i.id,
            tags: i.tags.unwrap_or_default(),
        });
    }
    Ok(images)
}

/// The body of `GET /volumes`: the volumes' names.
pub fn parse_volumes(body: &[u8]) -> Result<Vec<String>> {
    let v: VolumesJson = decode(body, "a volume list")?;
    let mut names = Vec::new();
    for v in v.volumes.unwrap_or_default() {
        names.push(v.name);
    }
    Ok(names)
}

/// What a non-2xx answer means: the engine's own `{"message": ...}` when the
/// body has one, else the status and its reason.
pub fn answer_error(call: &str, resp: &http::Response) -> Error {
    let status = u64::from(resp.status);
    let message = std::str::from_utf8(&resp.body)
        .ok()
        .and_then(|text| miniserde::json::from_str::<ErrorJson>(text).ok())
        .and_then(|e| e.message)
        .filter(|m| !m.is_empty());
    Error::new(match message {
        Some(m) => format!("engine: {call}: {status}: {m}"),
        None => format!("engine: {call}: {status} {}", resp.reason),
    })
}

/// Percent-encodes a path segment or query value: everything but letters,
/// digits and `-._~:@` (which mean nothing special there).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 15] {
                out.push(b"0123456789ABCDEF"[nibble as usize] as char);
            }
        }
    }
    out
}

/// A container ID or an image or volume name, as one path segment. Empty,
/// `.` and `..` would address another endpoint: refused.
fn segment(what: &str, s: &str) -> Result<String> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(Error::new(format!(
            "engine: refusing {what} {}",
            crate::json::quote(s)
        )));
    }
    Ok(encode(s))
}

/// `?filters=` selecting the extension class label.
fn extension_filter() -> String {
    let filter = format!("{{\"label\":[\"{CLASS}={REQUIRED_CLASS}\"]}}");
    format!("filters={}", encode(&filter))
}

/// A connection-less client: every call opens the socket, sends one request
/// with `Connection: close`, and reads one response.
pub struct Engine {
    pub socket: PathBuf,
    pub timeout: Duration,
    /// When every call must be over (the manager's whole sweep); a call
    /// gets the lesser of its timeout and what is left.
    pub deadline: Option<Instant>,
}

impl Engine {
    pub fn new(socket: PathBuf, timeout: Duration) -> Engine {
        Engine {
            socket,
            timeout,
            deadline: None,
        }
    }

    /// The time limit of the next call; an error once the deadline passed.
    pub fn limit(&self) -> Result<Duration> {
        let Some(deadline) = self.deadline else {
            return Ok(self.timeout);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(
                "engine: the time limit of the whole sweep is spent",
            ));
        }
        Ok(self.timeout.min(left))
    }

    /// Sends one request; the body of a 2xx answer, or None for a 404 when
    /// `gone_ok`. Any other status is an error carrying the engine's text.
    fn call(&self, method: &str, path: &str, gone_ok: bool) -> Result<Option<Vec<u8>>> {
        let path = format!("{API}{path}");
        let resp = http::request(&self.socket, self.limit()?, method, &path)
            .map_err(|e| e.context("engine"))?;
        match resp.status {
            200..=299 => Ok(Some(resp.body)),
            404 if gone_ok => Ok(None),
            _ => Err(answer_error(&format!("{method} {path}"), &resp)),
        }
    }

    /// `GET path`: the answer's body, and the call as errors about the
    /// body name it.
    fn get(&self, path: &str) -> Result<(Vec<u8>, String)> {
        let body = self.call("GET", path, false)?.unwrap_or_default();
        Ok((body, format!("engine: GET {API}{path}")))
    }

    /// `DELETE path`: true when removed, false when already gone.
    fn delete(&self, path: &str) -> Result<bool> {
        Ok(self.call("DELETE", path, true)?.is_some())
    }

    /// Every container (all states); with `extensions_only`, only those
    /// labelled `io.balena.image.class=overlay` (the engine filters).
    pub fn containers(&self, extensions_only: bool) -> Result<Vec<Summary>> {
        let mut path = "/containers/json?all=1".to_string();
        if extensions_only {
            path.push('&');
            path.push_str(&extension_filter());
        }
        let (body, call) = self.get(&path)?;
        parse_containers(&body).map_err(|e| e.context(call))
    }

    /// Ok(None): there is no such container (404), e.g. it was removed
    /// since the list was read.
    pub fn inspect_container(&self, id: &str) -> Result<Option<Container>> {
        let path = format!("/containers/{}/json", segment("container ID", id)?);
        let Some(body) = self.call("GET", &path, true)? else {
            return Ok(None);
        };
        let call = format!("engine: GET {API}{path}");
        parse_container(&body)
            .map(Some)
            .map_err(|e| e.context(call))
    }

    /// Removes a container, forced, with its anonymous volumes. Ok(false):
    /// it was already gone (404).
    pub fn remove_container(&self, id: &str) -> Result<bool> {
        let path = format!("/containers/{}?force=1&v=1", segment("container ID", id)?);
        self.delete(&path)
    }

    /// Images labelled `io.balena.image.class=overlay`.
    pub fn extension_images(&self) -> Result<Vec<Image>> {
        let (body, call) = self.get(&format!("/images/json?{}", extension_filter()))?;
        parse_images(&body).map_err(|e| e.context(call))
    }

    /// Ok(false): it was already gone (404). Not forced: an image a
    /// container still uses is refused by the engine (409), an error.
    pub fn remove_image(&self, id: &str) -> Result<bool> {
        self.delete(&format!("/images/{}", segment("image", id)?))
    }

    /// Names of the volumes no container uses.
    pub fn dangling_volumes(&self) -> Result<Vec<String>> {
        let filter = encode("{\"dangling\":[\"true\"]}");
        let (body, call) = self.get(&format!("/volumes?filters={filter}"))?;
        parse_volumes(&body).map_err(|e| e.context(call))
    }

    /// Ok(false): it was already gone (404).
    pub fn remove_volume(&self, name: &str) -> Result<bool> {
        self.delete(&format!("/volumes/{}", segment("volume name", name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn host(flag: Option<&str>, env: Option<&str>) -> Result<PathBuf> {
        parse_host(flag, env.map(OsString::from))
    }

    #[test]
    fn the_flag_wins_over_docker_host_which_wins_over_the_default() {
        assert_eq!(
            host(None, None).unwrap(),
            Path::new("/var/run/balena-engine.sock")
        );
        assert_eq!(host(None, Some("")).unwrap(), host(None, None).unwrap());
        assert_eq!(
            host(None, Some("unix:///run/docker.sock")).unwrap(),
            Path::new("/run/docker.sock")
        );
        assert_eq!(
            host(Some("unix:///tmp/e.sock"), Some("unix:///run/docker.sock")).unwrap(),
            Path::new("/tmp/e.sock")
        );
    }

    #[test]
    fn only_absolute_unix_sockets_are_accepted() {
        let e = host(Some("tcp://10.0.0.1:2375"), None).err().unwrap();
        assert_eq!(e.code, crate::error::USAGE);
        assert_eq!(
            e.msg,
            "--host \"tcp://10.0.0.1:2375\": only unix:///absolute/path is supported"
        );
        let e = host(None, Some("ssh://dev")).err().unwrap();
        assert_eq!(
            e.msg,
            "DOCKER_HOST \"ssh://dev\": only unix:///absolute/path is supported"
        );
        for bad in [
            "",
            "unix://",
            "unix://run/x.sock",
            "/run/x.sock",
            "npipe://x",
        ] {
            let e = host(Some(bad), None).err().unwrap();
            assert_eq!(e.code, crate::error::USAGE, "{bad}");
        }
    }

    #[test]
    fn ids_and_filters_are_percent_encoded() {
        assert_eq!(encode("sha256:ab-c_d.e~"), "sha256:ab-c_d.e~");
        assert_eq!(encode("a/b?c d%"), "a%2Fb%3Fc%20d%25");
        assert_eq!(
            extension_filter(),
            "filters=%7B%22label%22:%5B%22io.balena.image.class%3Doverlay%22%5D%7D"
        );
        assert!(segment("volume", "..").is_err());
        assert!(segment("container", "").is_err());
        assert_eq!(segment("volume", "../x").unwrap(), "..%2Fx");
    }

    #[test]
    fn maps_a_container_list_with_null_labels() {
        let body = br#"[{"Id":"3f2a","Names":["/ext"],"Image":"ext:v2","ImageID":"sha256:11",
            "Labels":null,"State":"exited","Status":"Exited (0) 2 minutes ago","Mounts":null},
            {"Id":"77","ImageID":"sha256:22","State":"dead","Ports":[{"PrivatePort":80}]}]"#;
        let list = parse_containers(body).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            (
                list[0].id.as_str(),
                list[0].image_id.as_str(),
                list[0].state.as_str()
            ),
            ("3f2a", "sha256:11", "exited")
        );
        assert_eq!(
            (list[1].image_id.as_str(), list[1].state.as_str()),
            ("sha256:22", "dead")
        );
        assert_eq!(parse_containers(b"[]").unwrap().len(), 0);
    }

    #[test]
    fn maps_an_inspected_container() {
        let body = br#"{"Id":"3f2a","Name":"/ext","Image":"sha256:11",
            "State":{"Status":"created","Running":false,"ExitCode":128,"Error":"oci runtime error: create failed"},
            "Config":{"Image":"ext:v2","Labels":{"io.balena.image.class":"overlay"},"Env":null},
            "Mounts":[{"Type":"volume","Name":"v1","Source":"/var/lib/docker/volumes/v1/_data","Destination":"/boot","RW":true},
                      {"Type":"bind","Source":"/etc","Destination":"/host/etc"}]}"#;
        let c = parse_container(body).unwrap();
        assert_eq!(
            (
                c.id.as_str(),
                c.name.as_str(),
                c.image_name.as_str(),
                c.image_id.as_str()
            ),
            ("3f2a", "ext", "ext:v2", "sha256:11")
        );
        assert_eq!(
            (c.status.as_str(), c.error.as_str(), c.exit_code),
            ("created", "oci runtime error: create failed", 128)
        );
        assert_eq!(c.labels.get(CLASS).map(String::as_str), Some("overlay"));
        assert_eq!(c.mounts.len(), 2);
        assert_eq!(
            (
                c.mounts[0].kind.as_str(),
                c.mounts[0].name.as_str(),
                c.mounts[0].destination.as_str()
            ),
            ("volume", "v1", "/boot")
        );
        assert_eq!(
            (
                c.mounts[1].kind.as_str(),
                c.mounts[1].name.as_str(),
                c.mounts[1].source.as_str()
            ),
            ("bind", "", "/etc")
        );
        let bare = parse_container(
            br#"{"Id":"x","Name":"x","Image":"sha256:11","State":{"Status":"exited","Error":"","ExitCode":0},
                 "Config":{"Image":"ext","Labels":null},"Mounts":null}"#,
        )
        .unwrap();
        assert_eq!(
            (bare.name.as_str(), bare.labels.len(), bare.mounts.len()),
            ("x", 0, 0)
        );
        // What the engine always writes is required: no guessing.
        let e = parse_container(
            br#"{"Id":"x","Name":"/x","Image":"sha256:11","State":{"Status":"exited","Error":""},"Config":{"Image":"ext"}}"#,
        )
        .err()
        .unwrap();
        assert_eq!(e.msg, "the answer is valid JSON but not a container");
    }

    #[test]
    fn maps_images_and_dangling_volumes() {
        let images = parse_images(
            br#"[{"Id":"sha256:11","RepoTags":["ext:v2","ext:latest"],"Labels":null,"Containers":-1},
                 {"Id":"sha256:22","RepoTags":null}]"#,
        )
        .unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].tags, ["ext:v2", "ext:latest"]);
        assert!(images[1].tags.is_empty());
        let vols = parse_volumes(
            br#"{"Volumes":[{"Name":"abc","Driver":"local","Labels":null}],"Warnings":null}"#,
        )
        .unwrap();
        assert_eq!(vols, ["abc"]);
        assert!(parse_volumes(br#"{"Volumes":null,"Warnings":null}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn wrong_json_says_what_was_expected() {
        let e = parse_containers(br#"[{"Id":7,"State":"exited"}]"#)
            .err()
            .unwrap();
        assert_eq!(e.msg, "the answer is valid JSON but not a container list");
        let e = parse_container(br#"{"Id":"x","State":{"Status":"exited","ExitCode":"0"}}"#)
            .err()
            .unwrap();
        assert_eq!(e.msg, "the answer is valid JSON but not a container");
        let e = parse_images(b"[{\"Id\":").err().unwrap();
        assert_eq!(e.msg, "the answer is not valid JSON (truncated or corrupt)");
        let e = parse_volumes(b"\xff").err().unwrap();
        assert_eq!(e.msg, "the answer is not UTF-8 text");
        assert!(parse_container(br#"{"Id":"x","State":null}"#).is_err());
    }

    #[test]
    fn a_call_gets_what_is_left_of_the_sweep_and_none_once_it_is_spent() {
        let t = Duration::from_secs(30);
        let mut e = Engine::new(PathBuf::from("/nonexistent.sock"), t);
        assert_eq!(e.limit().unwrap(), t);
        e.deadline = Some(Instant::now() + Duration::from_secs(5));
        let left = e.limit().unwrap();
        assert!(left <= Duration::from_secs(5) && left > Duration::ZERO);
        e.deadline = Some(Instant::now());
        let err = e.containers(true).err().unwrap().msg;
        assert_eq!(err, "engine: the time limit of the whole sweep is spent");
    }

    #[test]
    fn error_answers_carry_the_engines_message() {
        let resp = |status, reason: &str, body: &[u8]| http::Response {
            status,
            reason: reason.to_string(),
            body: body.to_vec(),
        };
        let e = answer_error(
            "DELETE /v1.40/images/sha256:11",
            &resp(
                409,
                "Conflict",
                br#"{"message":"conflict: unable to delete (must be forced)"}"#,
            ),
        );
        assert_eq!(
            e.msg,
            "engine: DELETE /v1.40/images/sha256:11: 409: conflict: unable to delete (must be forced)"
        );
        let e = answer_error(
            "GET /v1.40/x",
            &resp(500, "Internal Server Error", b"<html>\n</html>"),
        );
        assert_eq!(e.msg, "engine: GET /v1.40/x: 500 Internal Server Error");
        let e = answer_error(
            "GET /v1.40/x",
            &resp(500, "Internal Server Error", b"<html>\n</html>"),
        );
        assert_eq!(e.msg, "engine: GET /v1.40/x: 500 Internal Server Error");
        let e = answer_error(
            "GET /v1.40/x",
            &resp(502, "Bad Gateway", b"{\"message\":\"\"}"),
        );
        assert_eq!(e.msg, "engine: GET /v1.40/x: 502 Bad Gateway");
    }
}
