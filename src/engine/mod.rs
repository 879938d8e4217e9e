//! The container engine's HTTP API (balena-engine, or Docker 20.10 it is
//! forked from), reached over its unix socket: the few calls the manager
//! needs, each answer checked field by field. The engine's JSON is never
//! trusted: a bad, truncated, huge or wrongly-typed answer is an error that
//! names the call.
//!
//! INTERFACE SKELETON: the signatures below are the contract between the
//! manager and this module; the bodies are being written.

pub mod http;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Where balena-engine listens on a device.
pub const DEFAULT_HOST: &str = "unix:///var/run/balena-engine.sock";

/// Default time limit on connecting and on each read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The socket to talk to: `host` (from `--host`), else `$DOCKER_HOST`, else
/// [`DEFAULT_HOST`]. Only `unix://PATH` is accepted; any other scheme is a
/// usage error naming it.
pub fn socket_path(host: Option<&str>) -> Result<PathBuf> {
    let _ = host;
    Err(Error::new("engine: not implemented yet"))
}

/// One container as the list call shows it.
pub struct Summary {
    /// The full 64-hex ID.
    pub id: String,
    /// The image's ID (`sha256:...`).
    pub image_id: String,
    /// `created`, `running`, `exited`, `dead`, ...
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

/// A connection-less client: every call opens the socket, sends one request
/// with `Connection: close`, and reads one response.
pub struct Engine {
    pub socket: PathBuf,
    pub timeout: Duration,
}

impl Engine {
    pub fn new(socket: PathBuf, timeout: Duration) -> Engine {
        Engine { socket, timeout }
    }

    /// Every container (all states); with `extensions_only`, only those
    /// labelled `io.balena.image.class=overlay` (the engine filters).
    pub fn containers(&self, extensions_only: bool) -> Result<Vec<Summary>> {
        let _ = extensions_only;
        Err(Error::new("engine: not implemented yet"))
    }

    pub fn inspect_container(&self, id: &str) -> Result<Container> {
        let _ = id;
        Err(Error::new("engine: not implemented yet"))
    }

    /// Removes a container, forced, with its anonymous volumes. Ok(false):
    /// it was already gone (404).
    pub fn remove_container(&self, id: &str) -> Result<bool> {
        let _ = id;
        Err(Error::new("engine: not implemented yet"))
    }

    /// Images labelled `io.balena.image.class=overlay`.
    pub fn extension_images(&self) -> Result<Vec<Image>> {
        Err(Error::new("engine: not implemented yet"))
    }

    /// Ok(false): it was already gone (404).
    pub fn remove_image(&self, id: &str) -> Result<bool> {
        let _ = id;
        Err(Error::new("engine: not implemented yet"))
    }

    /// Names of the volumes no container uses.
    pub fn dangling_volumes(&self) -> Result<Vec<String>> {
        Err(Error::new("engine: not implemented yet"))
    }

    /// Ok(false): it was already gone (404).
    pub fn remove_volume(&self, name: &str) -> Result<bool> {
        let _ = name;
        Err(Error::new("engine: not implemented yet"))
    }
}
