//! applet: extension-mount
//! names: extension-mount balena-extension-mount
//! summary: overlay the hostapp and its installed extensions at boot (plan, mount, init)
//!
//! Reads only the disk: no engine runs at boot. The work is in
//! `src/boot/`; this file parses the command line.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::boot::{self, init, plan, render, Paths};
use crate::error::{Error, Result};

pub const USAGE: &str = "\
Usage: extension-mount --plan [--json] [PATHS]
       extension-mount --target DIR [PATHS]
       extension-mount --init [--target DIR] [--init-program PATH] [PATHS] [ARGS...]

Overlay the hostapp and every installed host extension into one read-only
overlayfs, from the disk alone, as balenaOS's initramfs does at boot.

  --plan              print which containers go into the overlay, in which
                      order, which are skipped and why; change nothing
  --json              the plan as one JSON document
  --target DIR        mount the union read-only at DIR (root)
  --init              PID 1 of an initramfs: mount the union at DIR (default
                      /mnt/rootfs), move /dev /proc /sys /run into it, switch
                      root, exec the init program with ARGS; a failure about
                      extensions boots the hostapp alone
  --init-program PATH the init program (default /sbin/init)

PATHS:
  --sysroot DIR       the hostapp partition: DIR/current names the hostapp
                      container, DIR/balena is its data root
                      (default /mnt/sysroot/active)
  --data-root DIR     the data partition's engine data root; extensions only
                      when DIR/../remove_me_to_reset exists
                      (default /mnt/data/docker)
  --cmdline FILE      the kernel command line (default /proc/cmdline)
  --kernel-release R  the release the claims compare with (default uname -r)
  --help              print this help

Exit status: 0 done (also with extensions skipped, or the hostapp booted
alone), 1 the hostapp cannot be planned or mounted, 2 usage error.
";

#[derive(PartialEq)]
enum Mode {
    Plan,
    Target,
    Init,
}

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let mut p = lexopt::Parser::from_args(args);
    let mut paths = Paths {
        sysroot: boot::DEFAULT_SYSROOT.into(),
        data_root: boot::DEFAULT_DATA_ROOT.into(),
        cmdline: boot::DEFAULT_CMDLINE.into(),
        kernel_release: None,
    };
    let mut mode = None;
    let mut json = false;
    let mut target: Option<PathBuf> = None;
    let mut program = PathBuf::from("/sbin/init");
    let mut rest: Vec<OsString> = Vec::new();
    let set = |m: Mode, mode: &mut Option<Mode>| match mode {
        Some(old) if *old != m => Err(Error::usage(
            "--plan, --target and --init exclude each other (see --help)",
        )),
        _ => {
            *mode = Some(m);
            Ok(())
        }
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("plan") => set(Mode::Plan, &mut mode)?,
            Long("init") => set(Mode::Init, &mut mode)?,
            Long("json") => json = true,
            Long("target") => target = Some(crate::dispatch::path_value(&mut p, "--target")?),
            Long("init-program") => program = crate::dispatch::path_value(&mut p, "--init-program")?,
            Long("sysroot") => paths.sysroot = crate::dispatch::path_value(&mut p, "--sysroot")?,
            Long("data-root") => paths.data_root = crate::dispatch::path_value(&mut p, "--data-root")?,
            Long("cmdline") => paths.cmdline = crate::dispatch::path_value(&mut p, "--cmdline")?,
            Long("kernel-release") => paths.kernel_release = Some(p.value()?.string()?),
            // The kernel hands init the arguments it does not know: they
            // are init's, whatever they look like (a usage error or this
            // help as PID 1 would panic the kernel), clusters kept whole.
            Short(c) if mode == Some(Mode::Init) => {
                let mut a = OsString::from(format!("-{c}"));
                if let Some(v) = p.optional_value() {
                    a.push(v);
                }
                rest.push(a);
            }
            Long("help") | Short('h') => {
                crate::output::print(USAGE)?;
                return Ok(0);
            }
            Value(v) if mode == Some(Mode::Init) => rest.push(v),
            Long(l) if mode == Some(Mode::Init) => {
                let mut a = OsString::from(format!("--{l}"));
                if let Some(v) = p.optional_value() {
                    a.push("=");
                    a.push(v);
                }
                rest.push(a);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    // The plan lists absolute layer paths, and the classic mount resolves
    // them and the target after a chdir.
    if let Ok(cwd) = std::env::current_dir() {
        for p in [&mut paths.sysroot, &mut paths.data_root]
            .into_iter()
            .chain(target.as_mut())
        {
            if p.is_relative() {
                *p = cwd.join(&*p);
            }
        }
    }
    if mode.is_none() && target.is_some() {
        mode = Some(Mode::Target);
    }
    if mode != Some(Mode::Init) && !rest.is_empty() {
        return Err(Error::usage("arguments are passed on by --init only"));
    }
    match mode {
        None => Err(Error::usage("one of --plan, --target DIR or --init (see --help)")),
        Some(Mode::Plan) => {
            if target.is_some() {
                return Err(Error::usage("--plan mounts nothing: no --target"));
            }
            let plan = plan::plan(&paths)?;
            let text = if json {
                crate::json::pretty(&render::json(&plan)) + "\n"
            } else {
                render::text(&plan)
            };
            crate::output::print(&text)?;
            Ok(0)
        }
        Some(_) if json => Err(Error::usage("--json goes with --plan")),
        Some(Mode::Target) => {
            init::mount_union(&paths, target.as_deref().expect("set"))?;
            Ok(0)
        }
        Some(Mode::Init) => {
            let target = target.unwrap_or_else(|| PathBuf::from("/mnt/rootfs"));
            init::run(&paths, &target, &program, &rest)
        }
    }
}
