//! `extension-mount`: the boot-time overlay of the hostapp and its
//! installed extensions, read from the disk alone (no engine runs yet).
//!
//! `layout` reads the engine's overlay2 directories without trusting them,
//! `record` what the engine wrote about a container, `plan` decides what
//! goes into the overlay and in which order, `render` prints that, `mount`
//! mounts it, `init` is PID 1 of an initramfs around it.

pub mod init;
pub mod layout;
pub mod mount;
pub mod plan;
pub mod record;
pub mod render;

use std::path::PathBuf;

/// balenaOS's places, as the initramfs mounts them.
pub const DEFAULT_SYSROOT: &str = "/mnt/sysroot/active";
pub const DEFAULT_DATA_ROOT: &str = "/mnt/data/docker";
pub const DEFAULT_CMDLINE: &str = "/proc/cmdline";

/// A test aid: `short-links` forces the classic mount(2) even where the
/// kernel has `lowerdir+` (README, extension-mount).
pub const METHOD_ENV: &str = "BER_EXTENSION_MOUNT_METHOD";

pub struct Paths {
    pub sysroot: PathBuf,
    pub data_root: PathBuf,
    pub cmdline: PathBuf,
    /// The release the claims compare with; None is the running kernel's.
    pub kernel_release: Option<String>,
}

/// How the layers reach the kernel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `fsconfig(FSCONFIG_SET_STRING, "lowerdir+", layer)` one layer at a
    /// time (Linux 6.8 and newer): no page limit.
    LowerdirPlus,
    /// `mount(2)` with `lowerdir=` naming each layer by a short relative
    /// path: an open descriptor's number in `/proc/self/fd`.
    ShortLinks,
}

impl Method {
    /// The method for a kernel `release` (the test aid may force the
    /// classic one). The mount still falls back when `lowerdir+` is refused.
    pub fn for_release(release: &str) -> Method {
        if std::env::var_os(METHOD_ENV).is_some_and(|v| v == "short-links") {
            return Method::ShortLinks;
        }
        let mut n = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
        if (major, minor) >= (6, 8) {
            Method::LowerdirPlus
        } else {
            Method::ShortLinks
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::LowerdirPlus => "lowerdir+",
            Method::ShortLinks => "short-links",
        }
    }

    /// Whether `layers` lower layers fit one overlay; else why not.
    pub fn fits(self, layers: usize, page: usize) -> Result<(), String> {
        if layers > plan::MAX_LAYERS {
            return Err(format!(
                "{layers} layers, overlayfs stacks at most {}",
                plan::MAX_LAYERS
            ));
        }
        let bytes = mount::short_links_len(layers);
        if self == Method::ShortLinks && bytes >= page {
            return Err(format!(
                "{layers} layers need {bytes} bytes of mount options, the page holds {}",
                page - 1
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
