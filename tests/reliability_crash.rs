//! Crash safety: containerd SIGKILLs the runtime on timeouts and a device
//! loses power without warning. This test kills the runtime at random
//! points of `create`, `start`, `kill` and `delete` (slow hooks keep the
//! windows wide) and checks after every kill that what is left can be
//! recovered with the ordinary commands:
//!
//! - every state file that exists parses and describes its container;
//! - a killed `create` leaves no proxy that no state points to;
//! - `state` answers (the state, or "does not exist");
//! - `delete --force` succeeds and leaves no state directory, no
//!   reservation, no temp file, no proxy and no running start hook.
//!
//! `RELIABILITY_SCALE=10` runs ten times as many rounds;
//! `RELIABILITY_SEED=N` replays a run.

mod common;
mod reliability;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{bundle, emulated, proxies, write_script, Rng, TempDir, OVERLAY};
use reliability::*;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    Create,
    Start,
    Kill,
    Delete,
}

/// A bundle whose hooks take a while. The start hook sleeps for as long as
/// `rootfs/start-sleep` says, so some rounds kill `start` while a long hook
/// runs, which `delete --force` must then stop.
fn slow_bundle(dir: &Path) -> PathBuf {
    let b = bundle(dir, OVERLAY);
    let hooks = b.join("rootfs/hooks");
    write_script(&hooks.join("create"), "#!/bin/sh\nsleep 0.02\n");
    write_script(
        &hooks.join("start"),
        "#!/bin/sh\nsleep \"$(cat \"$EXTENSION_ROOTFS/start-sleep\")\"\nexit 3\n",
    );
    write_script(&hooks.join("delete"), "#!/bin/sh\nsleep 0.02\n");
    b
}

/// How long to let the command run before the SIGKILL: a third of the
/// kills land in the first millisecond (start-up and the reservation, before
/// any hook runs: a static musl binary gets there in a few hundred
/// microseconds), the rest anywhere in a window a bit longer than the
/// command's hooks.
fn delay(rng: &mut Rng, phase: Phase) -> Duration {
    let window_ms = match phase {
        Phase::Create => 45,
        Phase::Start => 55,
        Phase::Kill => 4,
        Phase::Delete => 45,
    };
    let micros = if rng.below(3) == 0 {
        rng.below(1_000)
    } else {
        rng.below(window_ms * 1_000)
    };
    // An emulated command runs several times slower (qemu-user translates
    // it afresh at every start): the windows stretch with it, so that the
    // kills still land inside the commands.
    let stretch = if emulated() { 5 } else { 1 };
    Duration::from_micros(micros * stretch)
}

/// What a killed command left, for the coverage table.
fn outcome(rt: &Rt, id: &str, finished: bool) -> String {
    let state = read_state(&rt.root, id);
    let left = match (rt.root.join(id).exists(), state) {
        (false, _) => "no state".to_string(),
        (true, None) => "directory without state".to_string(),
        (true, Some(s)) => format!("state {}", s.status),
    };
    if finished {
        format!("{left} (finished before the kill)")
    } else {
        left
    }
}

#[test]
fn sigkill_at_any_point_leaves_state_that_the_ordinary_commands_recover() {
    let _serial = serial();
    let started = Instant::now();
    let t = TempDir::new("crash");
    let rt = Rt::new(t.path());
    let b = slow_bundle(t.path());
    let sleep_file = b.join("rootfs/start-sleep");
    let mut rng = Rng::from_env("crash");
    let plan = [
        (Phase::Create, rounds(120)),
        (Phase::Start, rounds(80)),
        (Phase::Kill, rounds(40)),
        (Phase::Delete, rounds(80)),
    ];
    let mut seen: BTreeMap<Phase, BTreeMap<String, usize>> = BTreeMap::new();
    let mut kills = 0;
    let mut round = 0;
    for (phase, n) in plan {
        for _ in 0..n {
            round += 1;
            let id = format!("k{round}");
            let long_hook = phase == Phase::Start && rng.below(4) == 0;
            fs::write(&sleep_file, if long_hook { "5" } else { "0.03" }).unwrap();

            // Bring the container to where the command starts from.
            if phase != Phase::Create {
                let (ok, err) = rt.create(&b, &id);
                assert!(ok, "setup create: {err}");
            }
            if phase == Phase::Delete && rng.below(2) == 0 {
                assert!(rt.run(&["start", &id]).status.success());
                assert!(
                    wait_status(&rt, &id, "stopped"),
                    "round {round}: never stopped"
                );
            }

            let mut child = match phase {
                Phase::Create => rt.spawn_create(&b, &id),
                Phase::Start => rt.spawn(&["start", &id]),
                Phase::Kill => rt.spawn(&["kill", &id, "TERM"]),
                Phase::Delete => rt.spawn(&["delete", &id]),
            };
            std::thread::sleep(delay(&mut rng, phase));
            let finished = child.try_wait().unwrap().is_some();
            let _ = child.kill();
            child.wait().unwrap();
            if !finished {
                kills += 1;
            }
            // `start` leaves a detached runner waiting for the hook; half of
            // the time it dies too, as on a power loss.
            if phase == Phase::Start && rng.below(2) == 0 {
                kills += kill_runtimes(&rt.root);
            }

            // Every state file that exists parses (read_state panics if not).
            let what = outcome(&rt, &id, finished);
            *seen.entry(phase).or_default().entry(what).or_default() += 1;
            let state = read_state(&rt.root, &id);

            // A killed create never leaves a proxy that no state points to:
            // without the go-ahead byte the proxy exits by itself.
            if phase == Phase::Create {
                match &state {
                    None => assert!(
                        within(Duration::from_secs(3), || proxies(&id, &rt.root).is_empty()),
                        "round {round}: create killed before writing state left proxy {:?}",
                        proxies(&id, &rt.root)
                    ),
                    Some(s) => {
                        for p in proxies(&id, &rt.root) {
                            assert_eq!(p, s.pid, "round {round}: a proxy the state does not name");
                        }
                    }
                }
            }

            // `state` answers.
            let o = rt.run(&["state", &id]);
            if o.status.success() {
                let _: miniserde::json::Object = miniserde::json::from_str(&text(&o.stdout))
                    .unwrap_or_else(|_| panic!("round {round}: state printed {:?}", o.stdout));
            } else {
                assert!(
                    text(&o.stderr).contains(&format!("container \"{id}\" does not exist")),
                    "round {round} ({phase:?}, {}): state failed: {}",
                    seen_last(&seen, phase),
                    text(&o.stderr)
                );
            }

            let before =
                fs::read_to_string(rt.root.join(&id).join("state.json")).unwrap_or_default();
            // `delete --force` always succeeds and leaves nothing.
            let o = rt.run(&["delete", "--force", &id]);
            assert!(
                o.status.success(),
                "round {round} ({phase:?}): delete --force failed: {}",
                text(&o.stderr)
            );
            assert!(!rt.root.join(&id).exists(), "round {round}: state left");
            let left = entries(&rt.root);
            assert!(
                left.is_empty(),
                "round {round} ({phase:?}): root holds {left:?}"
            );
            let temps: Vec<String> = entries(&rt.pids)
                .into_iter()
                .filter(|n| n.contains(".tmp"))
                .collect();
            assert!(temps.is_empty(), "round {round}: temp files {temps:?}");
            assert!(
                within(Duration::from_secs(1), || proxies(&id, &rt.root).is_empty()),
                "round {round} ({phase:?}): proxy left after delete --force"
            );
            // A start hook recorded in the state is stopped by delete
            // --force; the long one would otherwise run for 5 s.
            // A hook runs only once the state names it (its gate), so
            // delete --force always finds and stops it; one whose runner
            // died before recording it never ran.
            let hooks_gone = within(Duration::from_secs(1), || hooks_of(&id).is_empty());
            assert!(
                hooks_gone,
                "round {round} ({phase:?}): hook processes left: {:?}; state before delete: {before}",
                hooks_of(&id)
            );
            assert!(
                within(Duration::from_secs(1), || runtimes(&rt.root).is_empty()),
                "round {round} ({phase:?}): runtime processes left: {:?}",
                runtimes(&rt.root)
            );
            reap_all();
        }
    }
    let lines = rt.assert_log_valid();

    eprintln!(
        "crash: {round} rounds, {kills} SIGKILLs, {lines} log lines, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (phase, outcomes) in &seen {
        for (what, n) in outcomes {
            eprintln!("  {phase:?} killed: {what}: {n}");
        }
    }
    // The kills really landed inside the commands, not only before or after.
    let distinct = |p: Phase| seen.get(&p).map_or(0, |m| m.len());
    assert!(
        distinct(Phase::Create) >= 3,
        "create windows hit: {:?}",
        seen.get(&Phase::Create)
    );
    assert!(
        distinct(Phase::Start) >= 2,
        "start windows hit: {:?}",
        seen.get(&Phase::Start)
    );
    assert!(
        distinct(Phase::Delete) >= 2,
        "delete windows hit: {:?}",
        seen.get(&Phase::Delete)
    );
}

fn seen_last(seen: &BTreeMap<Phase, BTreeMap<String, usize>>, phase: Phase) -> String {
    seen.get(&phase)
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// A create killed between making its reservation (`.creating-PID-N`) and
/// renaming it into place leaves that directory behind. The window is too
/// narrow for the random kills to hit often, so this places one by hand.
#[test]
fn reservations_of_dead_creates_are_taken_over_and_live_ones_kept() {
    let _serial = serial();
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::DirBuilderExt;
    let t = TempDir::new("reservation");
    let rt = Rt::new(t.path());
    let b = slow_bundle(t.path());
    fs::DirBuilder::new().mode(0o700).create(&rt.root).unwrap();
    // A create killed before its rename leaves `.creating-<id>`, unlocked.
    fs::create_dir(rt.root.join(".creating-gone")).unwrap();
    let o = rt.run(&["delete", "--force", "gone"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(entries(&rt.root).is_empty(), "delete --force removes it");

    fs::create_dir(rt.root.join(".creating-r1")).unwrap();
    let (ok, err) = rt.create(&b, "r1");
    assert!(ok, "a create takes over a dead create's reservation: {err}");
    assert_eq!(entries(&rt.root), vec!["r1".to_string()]);
    assert!(rt.run(&["delete", "--force", "r1"]).status.success());

    // A reservation whose lock is held is a create in progress.
    let live = rt.root.join(".creating-r2");
    fs::create_dir(&live).unwrap();
    let dir = fs::File::open(&live).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
    let (ok, err) = rt.create(&b, "r2");
    assert!(!ok && err.contains("container with id exists: r2"), "{err}");
    assert!(rt.run(&["delete", "--force", "r2"]).status.success());
    assert!(live.exists(), "a live create's reservation is kept");
    drop(dir);
    reap_all();
}
