//! `manager cleanup`: the sweep balenaOS runs at boot (and, with
//! `--stale-os`, when an OS update commits): extension containers that are
//! dead, failed or rejected — or built for another OS — go, then the
//! extension images and volumes only they used.
//!
//! - `decide`: what goes and why (pure; a dry run decides alike);
//! - `deactivate`: the hook a stale extension runs before it goes;
//! - `lock`: one manager at a time;
//! - `report`: the action lines and the JSON document.
//!
//! One failed step never stops the sweep: it is reported and the rest is
//! tried. Every removal is idempotent (gone already is fine), so a run cut
//! short — the engine stopped, the device rebooted — is finished by the next.

pub mod deactivate;
pub mod decide;
pub mod lock;
pub mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::claims::{self, Host};
use crate::engine::{self, http, Container, Engine, Summary};
use crate::error::Result;
use crate::labels;
use crate::log::Level;

use decide::{short_id, volume_mounts};
use report::{Action, Report, Seen, Step};

/// The whole sweep's engine calls end within this many `--timeout`s: a
/// slow engine answering each call just in time cannot hold the boot
/// forever either.
const SWEEP_CALLS: u32 = 10;

/// How long the engine gets to answer its ping after a failed call.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do, as the command line said.
pub struct Options {
    pub stale_os: bool,
    pub dry_run: bool,
    pub json: bool,
    pub host_root: PathBuf,
    /// `--host`; else `$DOCKER_HOST`, else balena-engine's socket.
    pub host: Option<String>,
    pub lock_file: PathBuf,
    pub lock_wait: Duration,
    pub timeout: Duration,
    pub hook_timeout: Duration,
    pub level: Level,
}

/// Runs `cleanup`; returns the exit code: 0 everything decided was done,
/// 1 some step failed. An engine that cannot be reached at all is an error.
pub fn cleanup(o: &Options) -> Result<i32> {
    let socket = engine::socket_path(o.host.as_deref())?;
    let _lock = lock::acquire(&o.lock_file, o.lock_wait)?;
    let mut sweep = Sweep {
        o,
        engine: Engine {
            deadline: Some(Instant::now() + o.timeout * SWEEP_CALLS),
            ..Engine::new(socket, o.timeout)
        },
        report: Report::new(o.json, o.level, o.dry_run, o.stale_os),
        stopped: false,
        removed: Vec::new(),
        kept_volumes: Vec::new(),
    };
    let host = o.stale_os.then(|| claims::read_host(&o.host_root));
    if let Some(h) = &host {
        sweep.report.host(h);
    }
    let listed = sweep
        .engine
        .containers(true)
        .map_err(|e| e.context("cannot list extension containers"))?;
    for s in &listed {
        if sweep.stopped {
            break;
        }
        sweep.container(s, host.as_ref());
    }
    if !sweep.stopped {
        sweep.images();
    }
    if !sweep.stopped {
        sweep.volumes();
    }
    Ok(sweep.report.finish())
}

struct Sweep<'a> {
    o: &'a Options,
    engine: Engine,
    report: Report,
    /// The engine went away: the rest is left for the next run.
    stopped: bool,
    /// Containers removed (or that a dry run would remove).
    removed: Vec<Container>,
    /// Volume names the containers that stay mount.
    kept_volumes: Vec<String>,
}

impl Sweep<'_> {
    /// After a failed call: if the engine does not even answer its ping
    /// (its socket refuses connections, or it hangs), it is gone or
    /// restarting, and every further call would fail the same way, each
    /// after its time limit. Stop, and say so once; a new run finishes.
    /// An engine that answers is fine: the failure was the call's own.
    fn check_engine(&mut self) {
        let why = match self.engine.limit() {
            Err(e) => e.msg,
            Ok(limit) => {
                let ping = http::request(
                    &self.engine.socket,
                    limit.min(PING_TIMEOUT),
                    "GET",
                    "/_ping",
                );
                if ping.is_ok_and(|r| r.status == 200) {
                    return;
                }
                format!(
                    "the engine at {} stopped answering",
                    self.engine.socket.display()
                )
            }
        };
        self.stopped = true;
        self.report
            .fail(format!("{why}: cleanup stopped early (run it again)"));
    }

    fn container(&mut self, s: &Summary, host: Option<&Host>) {
        let c = match self.engine.inspect_container(&s.id) {
            Ok(Some(c)) => c,
            // Removed since the list (by someone else): nothing to do.
            Ok(None) => {
                let what = report::describe(&s.id, None, &s.state);
                self.report
                    .trace(Level::Debug, &format!("container {what} is gone already"));
                return;
            }
            Err(e) => {
                let seen = Seen {
                    id: &s.id,
                    name: None,
                    image: None,
                    image_id: Some(&s.image_id),
                    state: &s.state,
                    exit_code: None,
                    error: None,
                    volumes: &[],
                };
                self.report
                    .container(&seen, Action::Failed, "", Some((Step::Inspect, &e.msg)));
                self.check_engine();
                return;
            }
        };
        if !decide::is_extension(&c) {
            self.report.warn(format!(
                "container {} is not labelled {}={}: left alone",
                short_id(&c.id),
                labels::CLASS,
                labels::REQUIRED_CLASS
            ));
            return;
        }
        let volumes: Vec<String> = volume_mounts(&c.mounts).map(|m| m.name.clone()).collect();
        let seen = Seen {
            id: &c.id,
            name: Some(&c.name),
            image: Some(&c.image_name),
            image_id: Some(&c.image_id),
            state: &c.status,
            exit_code: Some(c.exit_code),
            error: Some(&c.error),
            volumes: &volumes,
        };
        let what = report::describe(&c.id, Some(&c.image_name), &c.status);
        let claims = host.map(|h| claims::check(&c.labels, h));
        let d = decide::decide(&c, claims.as_deref());
        for doubt in &d.doubts {
            self.report.warn(if d.remove {
                format!("container {what}: a claim cannot be checked: {doubt}")
            } else {
                format!("kept container {what}: cannot tell whether it is stale: {doubt}")
            });
        }
        if !d.remove {
            self.report.container(&seen, Action::Kept, &d.reason, None);
            self.kept_volumes.extend(volumes.iter().cloned());
            return;
        }
        if d.stale {
            let mut skipped = Vec::new();
            let hooks = deactivate::find(&c, &mut skipped);
            for s in skipped {
                self.report.warn(format!("container {what}: {s}"));
            }
            if !self.o.dry_run {
                let forward = self.report.wants(Level::Info);
                if let Err(msg) = deactivate::run(&c, &hooks, self.o.hook_timeout, forward) {
                    self.report.container(
                        &seen,
                        Action::Failed,
                        &d.reason,
                        Some((Step::Deactivate, &msg)),
                    );
                    self.kept_volumes.extend(volumes.iter().cloned());
                    return;
                }
            }
        }
        let result = if self.o.dry_run {
            Ok(true)
        } else {
            self.engine.remove_container(&c.id)
        };
        match result {
            Ok(_) => self
                .report
                .container(&seen, Action::Removed, &d.reason, None),
            Err(e) => {
                self.report.container(
                    &seen,
                    Action::Failed,
                    &d.reason,
                    Some((Step::Remove, &e.msg)),
                );
                self.kept_volumes.extend(volumes.iter().cloned());
                self.check_engine();
                return;
            }
        }
        self.removed.push(c);
    }

    /// Extension images no remaining container (of any kind) uses. Never
    /// forced: should a container start using one meanwhile, the engine
    /// refuses, and the image stays.
    fn images(&mut self) {
        let all = match self.engine.containers(false) {
            Ok(all) => all,
            Err(e) => {
                self.report.fail(format!(
                    "cannot list containers, so no image is removed: {}",
                    e.msg
                ));
                self.check_engine();
                return;
            }
        };
        let images = match self.engine.extension_images() {
            Ok(images) => images,
            Err(e) => {
                self.report
                    .fail(format!("cannot list extension images: {}", e.msg));
                self.check_engine();
                return;
            }
        };
        let removed: Vec<String> = self.removed.iter().map(|c| c.id.clone()).collect();
        let in_use = decide::remaining_image_ids(&all, &removed);
        let (unused, used) = decide::unused_images(&images, &in_use);
        for image in used {
            let user = all
                .iter()
                .find(|s| s.image_id == image.id && !removed.contains(&s.id))
                .map_or("", |s| short_id(&s.id));
            let reason = format!("used by container {user}");
            self.report
                .image(&image.id, &image.tags, Action::Kept, &reason, None);
        }
        for image in unused {
            if self.stopped {
                return;
            }
            let result = if self.o.dry_run {
                Ok(())
            } else {
                remove_image(&self.engine, &image.id, &image.tags)
            };
            match result {
                Ok(()) => {
                    self.report
                        .image(&image.id, &image.tags, Action::Removed, "unused", None)
                }
                Err(e) => {
                    self.report
                        .image(&image.id, &image.tags, Action::Failed, "unused", Some(&e));
                    self.check_engine();
                }
            }
        }
    }

    /// Volumes the removed containers mounted and that nothing uses now.
    fn volumes(&mut self) {
        let candidates = decide::volume_candidates(self.removed.iter());
        if candidates.is_empty() {
            return;
        }
        let dangling = match self.engine.dangling_volumes() {
            Ok(d) => d,
            Err(e) => {
                self.report
                    .fail(format!("cannot list dangling volumes: {}", e.msg));
                self.check_engine();
                return;
            }
        };
        let names = if self.o.dry_run {
            decide::volumes_as_if_removed(&candidates, &self.kept_volumes, &dangling)
        } else {
            decide::volumes_to_remove(&candidates, &dangling)
        };
        for name in names {
            if self.stopped {
                return;
            }
            let result = if self.o.dry_run {
                Ok(true)
            } else {
                self.engine.remove_volume(&name)
            };
            match result {
                Ok(_) => self.report.volume(&name, None),
                Err(e) => {
                    self.report.volume(&name, Some(&e.msg));
                    self.check_engine();
                }
            }
        }
    }
}

/// Removes an image without force. An image with several tags is removed
/// one tag at a time (the engine refuses to delete such an image by ID
/// unless forced); the last tag takes the image with it.
fn remove_image(engine: &Engine, id: &str, tags: &[String]) -> std::result::Result<(), String> {
    if tags.len() <= 1 {
        return engine.remove_image(id).map(|_| ()).map_err(|e| e.msg);
    }
    for tag in tags {
        engine.remove_image(tag).map_err(|e| e.msg)?;
    }
    Ok(())
}
