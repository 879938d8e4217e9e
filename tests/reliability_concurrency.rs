//! Concurrency: containerd runs commands for many containers at once and
//! may race commands on one container. Whole lifecycles run in parallel on
//! distinct IDs while a reader parses every state file it can find; then
//! commands race on one ID: creates against each other, start against
//! delete, kill against start. Nothing may be lost (each hook runs once,
//! each exit code arrives), no file may ever be seen half-written, and no
//! proxy may outlive its state.
//!
//! `RELIABILITY_SCALE=10` runs ten times as many rounds.

mod common;
mod reliability;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{all_proxies, bundle, proxies, reap, write_script, Rng, TempDir, OVERLAY};
use reliability::*;

/// Hooks that append their name to `traces/<ID>`; the start hook exits with
/// the code in `codes/<ID>` (0 if none).
fn traced_bundle(dir: &Path) -> PathBuf {
    let b = bundle(dir, OVERLAY);
    fs::create_dir_all(b.join("traces")).unwrap();
    fs::create_dir_all(b.join("codes")).unwrap();
    let trace = "echo \"${0##*/}\" >> \"$EXTENSION_ROOTFS/../traces/$EXTENSION_CONTAINER_ID\"\n";
    let hooks = b.join("rootfs/hooks");
    write_script(&hooks.join("create"), &format!("#!/bin/sh\n{trace}"));
    write_script(
        &hooks.join("start"),
        &format!(
            "#!/bin/sh\n{trace}sleep 0.01\nexit \"$(cat \"$EXTENSION_ROOTFS/../codes/$EXTENSION_CONTAINER_ID\" 2>/dev/null || echo 0)\"\n"
        ),
    );
    write_script(&hooks.join("delete"), &format!("#!/bin/sh\n{trace}"));
    b
}

fn trace(b: &Path, id: &str) -> String {
    fs::read_to_string(b.join("traces").join(id)).unwrap_or_default()
}

/// `create` with its own pid file; (ok, stderr, proxy pid).
fn create_as(rt: &Rt, b: &Path, id: &str, tag: &str) -> (bool, String, Option<i32>) {
    let pid_file = rt.pids.join(format!("{id}.{tag}.pid"));
    let (ok, err) = rt.create_with(b, id, &pid_file);
    let pid = fs::read_to_string(&pid_file)
        .ok()
        .map(|s| s.parse().expect("pid file holds bare digits"));
    let _ = fs::remove_file(&pid_file);
    (ok, err, pid)
}

/// Nothing left in the root, no proxy, no runtime process, every log line
/// valid.
fn assert_all_clean(rt: &Rt) {
    assert!(
        within(Duration::from_secs(3), || all_proxies(&rt.root).is_empty()),
        "stray proxies: {:?}",
        all_proxies(&rt.root)
    );
    assert!(
        within(Duration::from_secs(3), || runtimes(&rt.root).is_empty()),
        "runtime processes left: {:?}",
        runtimes(&rt.root)
    );
    assert_eq!(
        entries(&rt.root),
        Vec::<String>::new(),
        "state root not empty"
    );
    rt.assert_log_valid();
}

#[test]
fn parallel_lifecycles_lose_nothing_and_no_state_file_is_ever_torn() {
    let _serial = serial();
    let started = Instant::now();
    let t = TempDir::new("lifecycles");
    let rt = Arc::new(Rt::new(t.path()));
    let b = Arc::new(traced_bundle(t.path()));
    let workers = 6;
    let each = rounds(40);

    // A reader parses every state file it finds, as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (rt, stop, reads) = (rt.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for id in entries(&rt.root) {
                    if !id.starts_with('.') && read_state(&rt.root, &id).is_some() {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };

    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (rt, b) = (rt.clone(), b.clone());
            std::thread::spawn(move || {
                for i in 0..each {
                    let id = format!("w{w}-{i}");
                    let code = (w * 31 + i) % 200 + 1;
                    fs::write(b.join("codes").join(&id), code.to_string()).unwrap();
                    let (ok, err, pid) = create_as(&rt, &b, &id, "a");
                    assert!(ok, "create {id}: {err}");
                    let pid = pid.expect("pid file");
                    let o = rt.run(&["start", &id]);
                    assert!(o.status.success(), "start {id}: {}", text(&o.stderr));
                    // The start hook's verdict reaches the proxy's exit status.
                    assert_eq!(reap(pid), code as i32, "exit code of {id}");
                    assert!(wait_status(&rt, &id, "stopped"), "{id} never stopped");
                    let o = rt.run(&["delete", &id]);
                    assert!(o.status.success(), "delete {id}: {}", text(&o.stderr));
                    assert_eq!(trace(&b, &id), "create\nstart\ndelete\n", "hooks of {id}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert_all_clean(&rt);
    reap_all();
    eprintln!(
        "lifecycles: {} whole lifecycles on {workers} workers, {} state reads, {:.1} s",
        workers * each,
        reads.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    assert!(reads.load(Ordering::Relaxed) > 0, "the reader saw no state");
}

#[test]
fn racing_creates_of_one_id_exactly_one_wins() {
    let _serial = serial();
    let t = TempDir::new("racecreate");
    let rt = Arc::new(Rt::new(t.path()));
    let b = Arc::new(traced_bundle(t.path()));
    let racers = 4;
    let n = rounds(50);
    for r in 0..n {
        let id = format!("same{r}");
        let gate = Arc::new(Barrier::new(racers));
        let results: Vec<(bool, String, Option<i32>)> = (0..racers)
            .map(|k| {
                let (rt, b, gate, id) = (rt.clone(), b.clone(), gate.clone(), id.clone());
                std::thread::spawn(move || {
                    gate.wait();
                    create_as(&rt, &b, &id, &k.to_string())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let winners: Vec<_> = results.iter().filter(|r| r.0).collect();
        assert_eq!(winners.len(), 1, "round {r}: {} creates won", winners.len());
        for (ok, err, pid) in &results {
            if !ok {
                assert!(
                    err.contains(&format!("container with id exists: {id}")),
                    "round {r}: a losing create said: {err}"
                );
                assert!(pid.is_none(), "a losing create wrote a pid file");
            }
        }
        // The winner's proxy is the only one, and the state names it.
        let pid = winners[0].2.unwrap();
        assert_eq!(proxies(&id, &rt.root), vec![pid], "round {r}");
        assert_eq!(read_state(&rt.root, &id).unwrap().pid, pid);
        assert_eq!(trace(&b, &id), "create\n", "round {r}: one create hook ran");
        assert!(rt.run(&["delete", &id]).status.success());
        reap(pid);
    }
    assert_all_clean(&rt);
    reap_all();
    eprintln!("racing creates: {n} rounds of {racers} creates");
}

/// Runs `a`, and `b` after `delay`; returns both outputs.
fn race(
    rt: &Arc<Rt>,
    a: Vec<String>,
    b: Vec<String>,
    delay: Duration,
) -> (std::process::Output, std::process::Output) {
    let gate = Arc::new(Barrier::new(2));
    let spawn = |args: Vec<String>, delay: Duration| {
        let (rt, gate) = (rt.clone(), gate.clone());
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            gate.wait();
            std::thread::sleep(delay);
            rt.run(&args)
        })
    };
    let (ha, hb) = (spawn(a, Duration::ZERO), spawn(b, delay));
    (ha.join().unwrap(), hb.join().unwrap())
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn start_racing_delete_leaves_either_a_whole_container_or_nothing() {
    let _serial = serial();
    let t = TempDir::new("racedelete");
    let rt = Arc::new(Rt::new(t.path()));
    let b = traced_bundle(t.path());
    let n = rounds(60);
    let mut outcomes = [0usize; 4];
    let mut rng = Rng::from_env("start vs delete");
    for r in 0..n {
        let id = format!("sd{r}");
        let (ok, err, pid) = create_as(&rt, &b, &id, "a");
        assert!(ok, "{err}");
        let force = r % 2 == 0;
        let delete = if force {
            args(&["delete", "--force", &id])
        } else {
            args(&["delete", &id])
        };
        let delay = Duration::from_micros(rng.below(8_000));
        let (start, del) = race(&rt, args(&["start", &id]), delete, delay);
        let (s_ok, d_ok) = (start.status.success(), del.status.success());
        outcomes[(s_ok as usize) * 2 + d_ok as usize] += 1;
        if !s_ok {
            let e = text(&start.stderr);
            assert!(
                e.contains("does not exist") || e.contains("has stopped"),
                "round {r}: start failed with {e}"
            );
        }
        if !d_ok {
            assert!(
                !force,
                "round {r}: delete --force failed: {}",
                text(&del.stderr)
            );
            assert!(
                text(&del.stderr).contains("not stopped"),
                "round {r}: delete failed with {}",
                text(&del.stderr)
            );
        }
        if d_ok {
            // Deleted means gone: no state, no proxy, no hook still running.
            assert!(
                !rt.root.join(&id).exists(),
                "round {r}: deleted but state left"
            );
            assert!(
                within(Duration::from_secs(2), || proxies(&id, &rt.root).is_empty()
                    && hooks_of(&id).is_empty()),
                "round {r}: deleted but processes left"
            );
        } else {
            // Not deleted: the state is whole and the runtime can finish it.
            read_state(&rt.root, &id).expect("state kept");
            assert!(wait_status(&rt, &id, "stopped"));
            assert!(rt.run(&["delete", &id]).status.success());
        }
        let tr = trace(&b, &id);
        assert_eq!(tr.matches("delete").count(), 1, "round {r}: {tr}");
        assert!(tr.matches("start").count() <= 1, "round {r}: {tr}");
        reap(pid.unwrap());
    }
    assert_all_clean(&rt);
    reap_all();
    eprintln!(
        "start vs delete: {n} races; start ok/delete ok {}, start failed/delete ok {}, start ok/delete refused {}",
        outcomes[3], outcomes[1], outcomes[2]
    );
}

#[test]
fn kill_racing_start_ends_the_container_exactly_once() {
    let _serial = serial();
    let t = TempDir::new("racekill");
    let rt = Arc::new(Rt::new(t.path()));
    let b = traced_bundle(t.path());
    let n = rounds(60);
    let mut killed_first = 0;
    let mut rng = Rng::from_env("kill vs start");
    for r in 0..n {
        let id = format!("ks{r}");
        fs::write(b.join("codes").join(&id), "3").unwrap();
        let (ok, err, pid) = create_as(&rt, &b, &id, "a");
        assert!(ok, "{err}");
        let pid = pid.unwrap();
        let delay = Duration::from_micros(rng.below(30_000));
        let (start, kill) = race(
            &rt,
            args(&["start", &id]),
            args(&["kill", &id, "TERM"]),
            delay,
        );
        if !kill.status.success() {
            assert!(
                text(&kill.stderr).contains("container not running"),
                "round {r}: kill failed with {}",
                text(&kill.stderr)
            );
        }
        if !start.status.success() {
            assert!(
                text(&start.stderr).contains("has stopped"),
                "round {r}: start failed with {}",
                text(&start.stderr)
            );
        }
        // The proxy ends once: by SIGTERM (0) or by the start hook's
        // verdict (3, or 128+15 if the kill reached the hook).
        let code = reap(pid);
        assert!([0, 3, 143].contains(&code), "round {r}: proxy exit {code}");
        if kill.status.success() {
            killed_first += 1;
        }
        assert!(wait_status(&rt, &id, "stopped"), "round {r}");
        read_state(&rt.root, &id).expect("state kept");
        assert!(rt.run(&["delete", &id]).status.success());
        assert!(within(Duration::from_secs(2), || hooks_of(&id).is_empty()));
    }
    assert_all_clean(&rt);
    reap_all();
    eprintln!("kill vs start: {n} races, the kill reached a running container in {killed_first}");
}
