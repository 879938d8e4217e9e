//! PID 1 of an initramfs whose scripts mounted the sysroot and data
//! partitions: mount the union, move the API filesystems into it, switch
//! root, exec the OS's init.
//!
//! An extension must never brick a device: any failure about extensions
//! boots the hostapp alone, and says why on the console. A hostapp that
//! cannot be mounted is an error the caller prints before exiting: as PID 1
//! the exit panics the kernel, with the reason on the screen above it.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::plan::{plan, short_id, Plan};
use super::render::{self, PREFIX};
use super::{mount, Paths};
use crate::error::{Error, Result};
use crate::hostfs::host_lookup_path;
use crate::output::eprint_line;
use crate::sys::{self, cstring};

/// Moved into the new root when they are mount points.
const API_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];

/// Filesystems an initramfs root can be: it cannot be pivot_root'ed.
const RAMFS_MAGIC: u64 = 0x8584_58f6;

pub fn say(line: &str) {
    eprint_line(&format!("{PREFIX}{line}"));
}

/// Mounts the plan at `target`; when that fails because of extensions,
/// the hostapp alone. Used by `--target` and `--init` alike.
pub fn mount_union(paths: &Paths, target: &Path) -> Result<Plan> {
    // Said before anything else: a fallback would fail the same way.
    if !target.is_dir() {
        return Err(Error::new(format!(
            "the target {} is not a directory",
            target.display()
        )));
    }
    let mut plan = plan(paths)?;
    for l in render::lines(&plan) {
        say(&l);
    }
    match mount::mount(&plan.lowerdir(), plan.method, target) {
        Ok(_) => {
            say(&render::mounted(&plan, target));
            Ok(plan)
        }
        Err(e) if !plan.extensions.is_empty() => {
            hostapp_alone(&mut plan, target, &e.msg)?;
            Ok(plan)
        }
        Err(e) => Err(e.context(format!("hostapp {}", short_id(&plan.hostapp_id)))),
    }
}

/// Mounts the hostapp alone at `target` (free again), saying why.
fn hostapp_alone(plan: &mut Plan, target: &Path, why: &str) -> Result<()> {
    say(&format!("booting the hostapp alone: {why}"));
    plan.extensions.clear();
    mount::mount(&plan.lowerdir(), plan.method, target)
        .map_err(|e| e.context(format!("hostapp {}", short_id(&plan.hostapp_id))))?;
    say(&render::mounted(plan, target));
    Ok(())
}

/// Whether `program` is an executable file in the union at `target`
/// (symlinks resolved inside it, as they will be after the switch).
fn runnable(target: &Path, program: &Path) -> bool {
    host_lookup_path(target, program, true)
        .is_some_and(|(_, m)| m.is_file() && m.mode() & 0o111 != 0)
}

pub fn run(paths: &Paths, target: &Path, program: &Path, args: &[OsString]) -> Result<i32> {
    // The classic mount names its layers through /proc; an initramfs that
    // did not mount it gets it here (and then moved like the others).
    if fs::metadata("/proc/self/fd").is_err() {
        let _ = fs::create_dir("/proc");
        if let Err(e) = sys::mount(c"proc", c"/proc", Some(c"proc"), 0, None) {
            say(&format!(
                "cannot mount /proc: {}",
                crate::error::describe(&e)
            ));
        }
    }
    if fs::symlink_metadata(target).is_err() {
        fs::create_dir_all(target)
            .map_err(|e| Error::io(format!("cannot create {}", target.display()), &e))?;
    }
    let mut plan = mount_union(paths, target)?;
    // An override can hide or replace the init program, and once the root
    // is switched a failed exec is PID 1's exit: check it while the
    // hostapp alone is still an option.
    if !plan.extensions.is_empty() && !runnable(target, program) {
        sys::umount(&cstring(target)?, libc::MNT_DETACH)
            .map_err(|e| Error::io(format!("cannot unmount {}", target.display()), &e))?;
        let why = format!("{} is not a program in the union", program.display());
        hostapp_alone(&mut plan, target, &why)?;
    }
    move_api_mounts(target);
    switch_root(target)?;
    let mut argv = vec![cstring(program)?];
    for a in args {
        argv.push(cstring(a)?);
    }
    let err = sys::execv(&argv[0], &argv);
    Err(Error::io(
        format!("cannot start {}", program.display()),
        &err,
    ))
}

/// Moves each API filesystem that is a mount point of its own into the
/// new root; one that cannot be moved is said and left behind.
fn move_api_mounts(target: &Path) {
    let Ok(root_dev) = fs::metadata("/").map(|m| m.dev()) else {
        return;
    };
    for dir in API_MOUNTS {
        match fs::metadata(dir) {
            Ok(m) if m.dev() != root_dev => {}
            _ => continue,
        }
        let to: PathBuf = target.join(&dir[1..]);
        let r = cstring(&to).and_then(|t| {
            sys::mount(&cstring(dir)?, &t, None, libc::MS_MOVE, None)
                .map_err(|e| Error::io(format!("cannot move {dir} to {}", to.display()), &e))
        });
        if let Err(e) = r {
            say(&e.msg);
        }
    }
}

/// Makes `target` the root. An initramfs (rootfs) cannot be pivot_root'ed:
/// move the new root over it and chroot, as switch_root does.
fn switch_root(target: &Path) -> Result<()> {
    let t = cstring(target)?;
    let fail = |what: &str, e: std::io::Error| {
        Error::io(
            format!("cannot switch root to {}: {what}", target.display()),
            &e,
        )
    };
    sys::chdir(&t).map_err(|e| fail("chdir", e))?;
    let root = sys::fs_type(c"/").map_err(|e| fail("statfs /", e))?;
    if root == RAMFS_MAGIC || root == libc::TMPFS_MAGIC as u64 {
        sys::mount(c".", c"/", None, libc::MS_MOVE, None).map_err(|e| fail("move", e))?;
        sys::chroot(c".").map_err(|e| fail("chroot", e))?;
    } else {
        sys::pivot_root(c".", c".").map_err(|e| fail("pivot_root", e))?;
        sys::umount(c".", libc::MNT_DETACH).map_err(|e| fail("detach the old root", e))?;
    }
    sys::chdir(c"/").map_err(|e| fail("chdir /", e))
}
