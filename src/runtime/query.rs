//! The read-only commands: `state`, `ps`, `list` and `features`.

use std::collections::BTreeMap;

use miniserde::Serialize;

use super::{load, open_root, Globals};
use crate::error::Result;
use crate::json;
use crate::output::print;
use crate::state::{self, Lock, Record, Root};

/// OCI state as runc prints it (plus runc's `rootfs`, `created`, `owner`).
#[derive(Serialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
}

/// The OCI runtime spec version this runtime's state output follows.
pub const OCI_VERSION: &str = "1.0.2";

pub fn oci_state(rec: &Record) -> OciState {
    let status = rec.live_status();
    OciState {
        oci_version: OCI_VERSION.to_string(),
        id: rec.id.clone(),
        pid: if status == state::STOPPED { 0 } else { rec.pid },
        status: status.to_string(),
        bundle: rec.bundle.clone(),
        rootfs: rec.rootfs.clone(),
        created: rec.created.clone(),
        owner: rec.owner.clone(),
        annotations: rec.annotations.clone(),
    }
}

pub fn state(g: &Globals, id: &str) -> Result<()> {
    let root = open_root(g, id)?;
    let (_c, rec) = load(&root, id, Lock::None)?;
    print(&(json::pretty(&json::to_string(&oci_state(&rec))) + "\n"))
}

pub fn ps(g: &Globals, id: &str, json_format: bool) -> Result<()> {
    let root = open_root(g, id)?;
    let (_c, rec) = load(&root, id, Lock::None)?;
    let mut pids = Vec::new();
    if rec.live_status() != state::STOPPED && rec.proxy_alive() {
        pids.push(rec.pid);
    }
    if rec.hook_alive() {
        pids.push(rec.hook_pid);
    }
    if json_format {
        return print(&(json::to_string(&pids) + "\n"));
    }
    let mut out = format!("{:<8} CMD\n", "PID");
    for pid in pids {
        let cmd = crate::proc::cmdline(pid).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        out += &format!("{pid:<8} {}\n", crate::text::line(cmd.trim_end()));
    }
    print(&out)
}

pub fn list(g: &Globals, json_format: bool) -> Result<()> {
    let mut states = Vec::new();
    if std::fs::symlink_metadata(&g.root).is_ok() {
        let root = Root::open(&g.root, false)?;
        for id in root.ids()? {
            // A broken entry is state-dump's business; list what can be read.
            if let Ok((_c, rec)) = load(&root, &id, Lock::None) {
                states.push(oci_state(&rec));
            }
        }
    }
    if json_format {
        return print(&(json::to_string(&states) + "\n"));
    }
    let rows: Vec<[String; 6]> = states
        .into_iter()
        .map(|s| {
            [
                s.id,
                s.pid.to_string(),
                s.status,
                s.bundle,
                s.created,
                s.owner,
            ]
        })
        .collect();
    print(&table(
        &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        &rows,
    ))
}

/// Left-aligned columns separated by three spaces, the last one unpadded.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(crate::text::line(cell).chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let cell = crate::text::line(cell);
            if i + 1 < N {
                text += &format!("{cell:<w$}   ", w = widths[i]);
            } else {
                text += &cell;
            }
        }
        out += text.trim_end();
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// runc's `features` document, saying what this runtime honours: no OCI
/// hooks, no mount options, no namespaces — an extension changes the host.
pub fn features() -> Result<()> {
    let doc = format!(
        concat!(
            "{{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.1.0\",\"hooks\":[],",
            "\"mountOptions\":[],\"linux\":{{\"namespaces\":[],\"capabilities\":[]}},",
            "\"annotations\":{{\"io.balena.extension-runtime.version\":{},",
            "\"io.balena.extension-runtime.commit\":{},",
            "\"io.balena.extension-runtime.required-label\":\"io.balena.image.class=overlay\"}}}}"
        ),
        json::quote(crate::VERSION),
        json::quote(crate::COMMIT)
    );
    print(&(json::pretty(&doc) + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = [
            ["a".to_string(), "12345".to_string()],
            ["bbbb".to_string(), "1".to_string()],
        ];
        assert_eq!(
            table(&["ID", "PID"], &rows),
            "ID     PID\na      12345\nbbbb   1\n"
        );
    }
}
