//! What cleanup did, for people (one line per action, written as it
//! happens: a slow serial console shows progress) and for scripts (one JSON
//! document at the end). A dry run prints exactly the same; only the
//! summary line and `dry_run` say it was one.

use crate::json::{array, quote, Obj};
use crate::log::Level;

use super::decide::short_id;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Removed,
    Kept,
    Failed,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Removed => "removed",
            Action::Kept => "kept",
            Action::Failed => "failed",
        }
    }
}

/// The step that failed for a container; it names the report's line.
#[derive(Clone, Copy)]
pub enum Step {
    Inspect,
    /// Its deactivate hook failed: the container stays.
    Deactivate,
    Remove,
}

/// A container as the report shows it.
pub struct Seen<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub image: Option<&'a str>,
    pub image_id: Option<&'a str>,
    pub state: &'a str,
    pub exit_code: Option<i64>,
    pub error: Option<&'a str>,
    pub volumes: &'a [String],
}

/// `3f2a1b2c3d4e (ext:v2, created)`: a container as the lines name it. An
/// image given by ID is shortened like the container's.
pub fn describe(id: &str, image: Option<&str>, state: &str) -> String {
    let short = short_id(id);
    match image {
        Some(i) if i.starts_with("sha256:") => format!("{short} ({}, {state})", short_id(i)),
        Some(i) => format!("{short} ({i}, {state})"),
        None => format!("{short} ({state})"),
    }
}

pub struct Report {
    json: bool,
    level: Level,
    dry_run: bool,
    stale_os: bool,
    host: String,
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    warnings: Vec<String>,
    errors: Vec<String>,
    removed: [u64; 3],
    kept: u64,
}

impl Report {
    pub fn new(json: bool, level: Level, dry_run: bool, stale_os: bool) -> Report {
        Report {
            json,
            level,
            dry_run,
            stale_os,
            host: "null".to_string(),
            containers: Vec::new(),
            images: Vec::new(),
            volumes: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            removed: [0; 3],
            kept: 0,
        }
    }

    /// The host facts the claims were checked against (`--stale-os`).
    pub fn host(&mut self, host: &crate::claims::Host) {
        self.host = Obj::default()
            .opt("kernelRelease", host.kernel_release.as_deref())
            .opt("kernelVersion", host.kernel_version.as_deref())
            .opt("kernelAbi", host.kernel_abi.as_deref())
            .opt("kernelAbiSource", host.kernel_abi_source.as_deref())
            .opt("osVersion", host.os_version.as_deref())
            .end();
    }

    /// One action line on stdout (not with `--json`).
    fn line(&self, text: &str) {
        if !self.json {
            // A failed write is not the sweep's failure; a closed reader
            // ends the output only.
            let _ = crate::output::print(&format!("{}\n", crate::text::line(text)));
        }
    }

    /// A line on stderr, when the log level lets it through.
    pub fn trace(&self, level: Level, text: &str) {
        if level <= self.level {
            crate::output::eprint_line(text);
        }
    }

    pub fn wants(&self, level: Level) -> bool {
        level <= self.level
    }

    pub fn warn(&mut self, text: String) {
        self.trace(Level::Warn, &format!("warning: {text}"));
        self.warnings.push(text);
    }

    /// A failed step that is not about one container, image or volume.
    pub fn fail(&mut self, text: String) {
        self.line(&text);
        self.errors.push(text);
    }

    /// `reason`: why it goes or stays; `failure`: which step went wrong,
    /// and how, if any (then `action` is Failed).
    pub fn container(
        &mut self,
        c: &Seen,
        action: Action,
        reason: &str,
        failure: Option<(Step, &str)>,
    ) {
        let what = describe(c.id, c.image, c.state);
        match (action, failure) {
            (Action::Removed, _) => {
                self.removed[0] += 1;
                self.line(&format!("removed container {what}: {reason}"));
            }
            (Action::Kept, _) => {
                self.kept += 1;
                self.trace(Level::Debug, &format!("kept container {what}: {reason}"));
            }
            (Action::Failed, Some((step, f))) => {
                let text = match step {
                    Step::Deactivate => format!("kept container {what}: {f}"),
                    Step::Inspect => format!("failed to inspect container {what}: {f}"),
                    Step::Remove => format!("failed to remove container {what}: {f}"),
                };
                self.line(&text);
                self.errors.push(text);
            }
            (Action::Failed, None) => {}
        }
        self.containers.push(
            Obj::default()
                .str("id", c.id)
                .opt("name", c.name)
                .opt("image", c.image)
                .opt("imageId", c.image_id)
                .str("state", c.state)
                .int("exitCode", c.exit_code)
                .opt("error", c.error)
                .str("action", action.name())
                .str("reason", reason)
                .opt("failure", failure.map(|(_, f)| f))
                .strs("volumes", c.volumes)
                .end(),
        );
    }

    pub fn image(
        &mut self,
        id: &str,
        tags: &[String],
        action: Action,
        reason: &str,
        failure: Option<&str>,
    ) {
        let what = format!(
            "{} ({})",
            short_id(id),
            if tags.is_empty() {
                "<none>".to_string()
            } else {
                tags.join(", ")
            }
        );
        match (action, failure) {
            (Action::Removed, _) => {
                self.removed[1] += 1;
                self.line(&format!("removed image {what}"));
            }
            (Action::Failed, Some(f)) => {
                let text = format!("failed to remove image {what}: {f}");
                self.line(&text);
                self.errors.push(text);
            }
            _ => self.trace(Level::Debug, &format!("kept image {what}: {reason}")),
        }
        self.images.push(
            Obj::default()
                .str("id", id)
                .strs("tags", tags)
                .str("action", action.name())
                .str("reason", reason)
                .opt("failure", failure)
                .end(),
        );
    }

    pub fn volume(&mut self, name: &str, failure: Option<&str>) {
        let action = match failure {
            None => {
                self.removed[2] += 1;
                self.line(&format!("removed volume {name}"));
                Action::Removed
            }
            Some(f) => {
                let text = format!("failed to remove volume {name}: {f}");
                self.line(&text);
                self.errors.push(text);
                Action::Failed
            }
        };
        self.volumes.push(
            Obj::default()
                .str("name", name)
                .str("action", action.name())
                .opt("failure", failure)
                .end(),
        );
    }

    /// `cleanup: removed 2 containers, 1 image, 0 volumes; kept 3; 1 failed`.
    pub fn summary(&self) -> String {
        let n =
            |count: u64, one: &str| format!("{count} {one}{}", if count == 1 { "" } else { "s" });
        let [c, i, v] = self.removed;
        format!(
            "cleanup{}: {} {}, {}, {}; kept {}; {} failed",
            if self.dry_run { " (dry run)" } else { "" },
            if self.dry_run {
                "would remove"
            } else {
                "removed"
            },
            n(c, "container"),
            n(i, "image"),
            n(v, "volume"),
            self.kept,
            self.errors.len()
        )
    }

    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The summary line, or the whole JSON document; the exit code.
    pub fn finish(&self) -> i32 {
        if self.json {
            let [c, i, v] = self.removed;
            let summary = Obj::default()
                .uint("containersRemoved", c)
                .uint("containersKept", self.kept)
                .uint("imagesRemoved", i)
                .uint("volumesRemoved", v)
                .uint("failed", self.errors.len() as u64)
                .end();
            let doc = Obj::default()
                .bool("dryRun", self.dry_run)
                .bool("staleOs", self.stale_os)
                .raw("host", &self.host)
                .raw("containers", &array(self.containers.iter().cloned()))
                .raw("images", &array(self.images.iter().cloned()))
                .raw("volumes", &array(self.volumes.iter().cloned()))
                .raw("warnings", &array(self.warnings.iter().map(|w| quote(w))))
                .raw("errors", &array(self.errors.iter().map(|e| quote(e))))
                .raw("summary", &summary)
                .end();
            if let Err(err) = crate::output::print(&(crate::json::pretty(&doc) + "\n")) {
                crate::output::eprint_line(&format!("balena-extension-manager: {}", err.msg));
                return 1;
            }
        } else {
            self.line(&self.summary());
        }
        i32::from(self.failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(volumes: &'a [String]) -> Seen<'a> {
        Seen {
            id: "3f2a1b2c3d4e5f60",
            name: Some("ext"),
            image: Some("ext:v2"),
            image_id: Some("sha256:1a2b3c4d5e6f7a8b"),
            state: "created",
            exit_code: Some(0),
            error: Some("boom"),
            volumes,
        }
    }

    #[test]
    fn containers_are_named_by_short_id_image_and_state() {
        let id = "3f2a1b2c3d4e5f60";
        assert_eq!(
            describe(id, Some("ext:v2"), "created"),
            "3f2a1b2c3d4e (ext:v2, created)"
        );
        assert_eq!(
            describe(id, Some("sha256:1a2b3c4d5e6f7a8b"), "dead"),
            "3f2a1b2c3d4e (1a2b3c4d5e6f, dead)"
        );
        assert_eq!(describe(id, None, "exited"), "3f2a1b2c3d4e (exited)");
    }

    #[test]
    fn the_summary_counts_and_says_dry_run() {
        let mut r = Report::new(true, Level::Error, false, false);
        r.container(&seen(&[]), Action::Removed, "create failed: boom", None);
        r.container(&seen(&[]), Action::Kept, "installed", None);
        r.image(
            "sha256:1a2b3c4d5e6f7a8b",
            &[],
            Action::Removed,
            "unused",
            None,
        );
        r.volume("v", Some("in use"));
        assert_eq!(
            r.summary(),
            "cleanup: removed 1 container, 1 image, 0 volumes; kept 1; 1 failed"
        );
        assert!(r.failed());
        let mut d = Report::new(true, Level::Error, true, false);
        d.container(&seen(&[]), Action::Kept, "installed", None);
        assert_eq!(
            d.summary(),
            "cleanup (dry run): would remove 0 containers, 0 images, 0 volumes; kept 1; 0 failed"
        );
        assert!(!d.failed());
    }
}
