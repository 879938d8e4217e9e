//! `create`: validate the extension, run its create hook, start the proxy
//! and record the state. On any failure nothing is left behind: no state
//! directory, no proxy, no pid file.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::Globals;
use crate::error::{Error, IoContext, Result};
use crate::hooks::{self, Sinks};
use crate::labels::{self, Labels};
use crate::proc::{self, Spawn};
use crate::spec;
use crate::state::{self, Container, MountRecord, Record, Root};
use crate::sys;
use crate::tty;

pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
}

/// The name the proxy runs under (and the sibling symlink it is run through).
pub use crate::proc::PROXY_NAME;

pub fn create(g: &Globals, o: &CreateOpts) -> Result<()> {
    let id = o.id.as_str();
    state::validate_new_id(id)?;
    let in_container = |e: Error| e.context(format!("container \"{id}\""));
    let bundle = absolute(&o.bundle)
        .canonicalize()
        .ctx(|| format!("bundle {}", o.bundle.display()))
        .map_err(in_container)?;
    let spec = spec::load(&bundle).map_err(in_container)?;
    let (labels, label_source) = find_labels(g, id, &spec).map_err(in_container)?;
    labels::validate(&labels)
        .map_err(|e| e.context(format!("labels from {label_source}")))
        .map_err(in_container)?;
    let rootfs = spec::rootfs(&bundle, &spec).map_err(in_container)?;
    // Every hook is looked up (a bad one fails create); only create's runs here.
    let mut create_hook = None;
    for name in hooks::ALL {
        let path = hooks::find(&rootfs, name).map_err(in_container)?;
        if name == hooks::CREATE {
            create_hook = path;
        }
    }
    if spec.hooks.is_some() {
        crate::log::info(&format!(
            "container \"{id}\": OCI hooks in config.json are not run: an extension has no namespaces to prepare"
        ));
    }
    let mounts: Vec<MountRecord> = spec
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter(spec::Mount::is_bind)
        .filter_map(|m| {
            Some(MountRecord {
                destination: m.destination,
                source: m.source?,
            })
        })
        .collect();

    let (created_secs, created_nanos) = crate::time::now();
    let mut record = Record {
        oci_version: spec.oci_version.unwrap_or_default(),
        id: id.to_string(),
        status: state::CREATED.to_string(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.display().to_string(),
        rootfs: rootfs.display().to_string(),
        created: crate::time::rfc3339(created_secs, created_nanos),
        owner: String::new(),
        annotations: spec.annotations.unwrap_or_default(),
        labels,
        label_source,
        mounts,
        exit_code: 0,
        hook_pid: 0,
        hook_start: 0,
        delete_hook_started: false,
        pid_file: o
            .pid_file
            .as_ref()
            .map(|p| absolute(p).display().to_string()),
        // Compared byte for byte with the proxy's argument: a root that is
        // not UTF-8 cannot be recorded as a JSON string, so none is (any
        // root then matches, as for a state written before the root was).
        proxy_root: g.root.to_str().map(str::to_string),
    };

    let root = Root::open(&g.root, true)?;
    let container = root.reserve(id)?;
    let mut proxy = None;
    let result = build(
        g,
        o,
        &container,
        &mut record,
        create_hook.as_ref(),
        &mut proxy,
    );
    if let Err(e) = result {
        if let Some(pid) = proxy {
            // Our own child: kill it and reap it, so nothing is orphaned.
            // SAFETY: kill takes plain values; the unreaped child's PID is ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = proc::wait(pid, 0);
        }
        let _ = container.remove();
        return Err(e);
    }
    crate::log::info(&format!(
        "container \"{id}\" created: proxy pid {}, labels from {}",
        record.pid, record.label_source
    ));
    Ok(())
}

/// The part of create that runs with the container's directory reserved.
fn build(
    g: &Globals,
    o: &CreateOpts,
    container: &Container,
    record: &mut Record,
    create_hook: Option<&PathBuf>,
    proxy: &mut Option<libc::pid_t>,
) -> Result<()> {
    let id = o.id.as_str();
    // With a terminal, the container's stdio is the pty's slave; the master
    // goes to the console socket before any output can fill the pty.
    let pty = match &o.console_socket {
        Some(socket) => {
            let pty = tty::open_pty()?;
            tty::send_fd(socket, &pty.master, &pty.name)?;
            Some(pty)
        }
        None => None,
    };
    let stdio: [i32; 3] = match &pty {
        Some(p) => [p.slave.as_raw_fd(); 3],
        None => [0, 1, 2],
    };

    if let Some(path) = create_hook {
        let ctx = hooks::Context {
            id,
            rootfs: Path::new(&record.rootfs),
            labels: &record.labels,
            mounts: &record.mounts,
        };
        let sinks = Sinks {
            stdout: Some(stdio[1]),
            stderr: Some(stdio[2]),
        };
        let done = hooks::run(
            hooks::CREATE,
            path,
            &ctx,
            g.hook_timeout,
            sinks,
            &mut |_| Ok(()),
        )?;
        if !done.outcome.success() {
            return Err(Error::new(done.failure(id, hooks::CREATE, g.hook_timeout)));
        }
    }

    // The proxy waits on this pipe before it settles: if create dies before
    // the state names the proxy, the pipe closes empty and the proxy exits,
    // so no proxy ever runs that no state points to.
    let (go_r, go_w) = sys::pipe().map_err(|e| Error::io("cannot create a pipe", &e))?;
    let pid = spawn_proxy(id, &g.root, stdio, &go_r, pty.is_some())?;
    *proxy = Some(pid);
    drop(go_r);
    record.pid = pid;
    record.pid_start = proc::stat(pid).map(|s| s.start).ok_or_else(|| {
        Error::new(format!(
            "container \"{id}\": the proxy (pid {pid}) died at once"
        ))
    })?;
    container.write(record)?;
    sys::write_all(go_w.as_raw_fd(), &pid.to_ne_bytes())
        .map_err(|e| Error::io("cannot release the proxy", &e))?;
    drop(go_w);
    if let Some(path) = &o.pid_file {
        write_pid_file(path, pid)?;
    }
    Ok(())
}

/// The proxy runs as `balena-extension-proxy ID ROOT`: `ps` shows which
/// container it stands for, and a lost state can still find it.
fn spawn_proxy(
    id: &str,
    root: &Path,
    stdio: [i32; 3],
    go: &OwnedFd,
    tty: bool,
) -> Result<libc::pid_t> {
    let (program, argv0) = proxy_program();
    let argv = vec![sys::cstring(argv0)?, sys::cstring(id)?, sys::cstring(root)?];
    let mut spawn = Spawn::new(sys::cstring(&program)?, argv);
    spawn.fds = vec![stdio[0], stdio[1], stdio[2], go.as_raw_fd()];
    spawn.new_session = true;
    spawn.controlling_tty = tty;
    // Blocked from before exec, so a start signal can never find the proxy
    // with default actions in place.
    spawn.sigmask = sys::full_sigset();
    spawn
        .spawn()
        .map_err(|e| e.context(format!("container \"{id}\": cannot start the proxy")))
}

/// What to exec, and as which argv[0]: `balena-extension-proxy` beside this
/// binary when installed that way, else this very binary under that name.
/// Either way `ps` shows what the process is.
fn proxy_program() -> (PathBuf, std::ffi::OsString) {
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        if let Some(dir) = exe.parent() {
            let sibling = dir.join(PROXY_NAME);
            if sibling.exists() {
                let argv0 = sibling.clone().into_os_string();
                return (sibling, argv0);
            }
        }
    }
    (PathBuf::from("/proc/self/exe"), PROXY_NAME.into())
}

/// Labels from the spec's annotations, or else from the engine's record
/// (Docker and balena-engine keep image labels only there).
fn find_labels(g: &Globals, id: &str, spec: &spec::Spec) -> Result<(Labels, String)> {
    if let Some(ann) = &spec.annotations {
        let found = labels::extension_labels(ann);
        if !found.is_empty() {
            return Ok((found, "annotations".to_string()));
        }
    }
    let record = g
        .docker_root
        .join("containers")
        .join(id)
        .join("config.v2.json");
    match labels::from_engine(&g.docker_root, id)? {
        Some(all) => Ok((labels::extension_labels(&all), record.display().to_string())),
        None => Ok((
            Labels::new(),
            format!("annotations (no engine record at {})", record.display()),
        )),
    }
}

/// The pid file holds bare digits (the shim parses it with Atoi), written
/// through a temp file and a rename so a reader never sees it half-written.
fn write_pid_file(path: &Path, pid: libc::pid_t) -> Result<()> {
    let temp = path.with_file_name(format!("{}{}", pid_file_temp_prefix(path), sys::getpid()));
    let fail =
        |e: std::io::Error| Error::io(format!("cannot write pid file {}", path.display()), &e);
    std::fs::write(&temp, pid.to_string()).map_err(fail)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        fail(e)
    })
}

/// Temp files of the pid file at `path` start with this; `delete` removes
/// those a killed create left.
pub fn pid_file_temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    }
}
