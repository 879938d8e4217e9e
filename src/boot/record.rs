//! What the engine wrote about a container (`containers/<id>/config.v2.json`)
//! that the boot needs: its name, image, labels, and whether it was
//! installed — started, exited 0, no error, not dead or being removed.

use std::collections::BTreeMap;
use std::path::Path;

use miniserde::Deserialize;

use crate::json;

/// Records are a few KB; a bigger one is broken or hostile.
pub const MAX_RECORD: u64 = 4 << 20;

/// The engine's "never" for a time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Deserialize, Default)]
pub struct Record {
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "State")]
    pub state: Option<State>,
    #[serde(rename = "Config")]
    pub config: Option<Config>,
}

#[derive(Deserialize, Default)]
pub struct State {
    #[serde(rename = "Running")]
    pub running: Option<bool>,
    #[serde(rename = "Dead")]
    pub dead: Option<bool>,
    #[serde(rename = "RemovalInProgress")]
    pub removal: Option<bool>,
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
    #[serde(rename = "Error")]
    pub error: Option<String>,
    #[serde(rename = "StartedAt")]
    pub started_at: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Config {
    #[serde(rename = "Image")]
    pub image: Option<String>,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
}

impl Record {
    /// Reads `path`; the error is the one-line reason.
    pub fn read(path: &Path) -> Result<Record, String> {
        let text = json::read_text(path, MAX_RECORD, true).map_err(|e| e.msg)?;
        Record::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Record, String> {
        json::parse(text, path, "a container record").map_err(|e| e.msg)
    }

    /// The engine's name without its leading `/`; empty when it has none.
    pub fn name(&self) -> &str {
        let n = self.name.as_deref().unwrap_or("");
        n.strip_prefix('/').unwrap_or(n)
    }

    pub fn image(&self) -> &str {
        self.config
            .as_ref()
            .and_then(|c| c.image.as_deref())
            .unwrap_or("")
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key).map(String::as_str)
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.config.as_ref()?.labels.as_ref()
    }

    /// None when the container is installed, else why not.
    pub fn not_installed(&self) -> Option<String> {
        let Some(s) = &self.state else {
            return Some("the record has no State".into());
        };
        let error = s.error.as_deref().unwrap_or("");
        let started = s
            .started_at
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t != ZERO_TIME);
        Some(if s.removal == Some(true) {
            "removal in progress".into()
        } else if s.dead == Some(true) {
            "dead".into()
        } else if s.running != Some(false) {
            // An extension exits as soon as it is started; one still
            // running (or whose record says nothing) was never finished.
            "still marked running (never finished installing)".into()
        } else if !started {
            if error.is_empty() {
                "created but never started".into()
            } else {
                format!("create failed: {}", super::layout::quoted(error))
            }
        } else if !error.is_empty() {
            format!("start failed: {}", super::layout::quoted(error))
        } else {
            match s.exit_code {
                Some(0) => return None,
                Some(n) => format!("start hook rejected it (exited {n})"),
                None => "the record has no exit code".into(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(state: &str) -> Option<String> {
        let text = format!(r#"{{"Name":"/ext","State":{state},"Config":{{"Labels":{{}}}}}}"#);
        Record::parse(&text, Path::new("r"))
            .unwrap()
            .not_installed()
    }

    #[test]
    fn installed_means_started_exited_zero_and_no_error() {
        let ok = r#"{"Running":false,"ExitCode":0,"Error":"","StartedAt":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(verdict(ok), None);
        let cases = [
            (
                r#"{"Running":false,"ExitCode":7,"Error":"","StartedAt":"2026-01-01T00:00:00Z"}"#,
                "start hook rejected it (exited 7)",
            ),
            (
                r#"{"Running":false,"ExitCode":128,"Error":"oci runtime error","StartedAt":"0001-01-01T00:00:00Z"}"#,
                "create failed: oci runtime error",
            ),
            (
                r#"{"Running":false,"ExitCode":0,"Error":"","StartedAt":"0001-01-01T00:00:00Z"}"#,
                "created but never started",
            ),
            (
                r#"{"Running":false,"ExitCode":0,"Dead":true,"StartedAt":"2026-01-01T00:00:00Z"}"#,
                "dead",
            ),
            (
                r#"{"Running":false,"ExitCode":0,"RemovalInProgress":true,"StartedAt":"x"}"#,
                "removal in progress",
            ),
            (
                r#"{"Running":true,"ExitCode":0,"StartedAt":"2026-01-01T00:00:00Z"}"#,
                "still marked running (never finished installing)",
            ),
            (
                r#"{"Running":false,"ExitCode":0,"Error":"boom\nx","StartedAt":"2026-01-01T00:00:00Z"}"#,
                "start failed: boom x",
            ),
        ];
        for (state, want) in cases {
            assert_eq!(verdict(state).as_deref(), Some(want), "{state}");
        }
    }

    #[test]
    fn names_lose_the_leading_slash() {
        let r = Record::parse(r#"{"Name":"/ext"}"#, Path::new("r")).unwrap();
        assert_eq!(r.name(), "ext");
        assert!(Record::parse(r#"{"Name":7}"#, Path::new("r")).is_err());
        assert!(Record::parse(r#"{"Name":"/e"#, Path::new("r")).is_err());
    }
}
