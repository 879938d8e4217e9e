//! Facts about the host an extension is checked against: kernel release,
//! `Module.symvers` digest, os-release `VERSION_ID`, `balena.nohostext`.

use std::fs;
use std::path::Path;

use super::files::host_lookup;
use super::{sha256, Host};

/// Reads a small host file; None when it is missing or unreadable.
fn host_text(host: &Path, abs: &str) -> Option<String> {
    let (path, _) = host_lookup(host, abs, true)?;
    crate::json::read_text(&path, 1 << 20, false).ok()
}

pub(super) fn host_facts(host: &Path) -> Host {
    let release = host_text(host, "/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let version = release.as_deref().map(kernel_version);
    let mut symvers = None;
    let mut sha = None;
    if let Some(r) = &release {
        let abs = format!("/lib/modules/{r}/Module.symvers");
        if let Some((path, _)) = host_lookup(host, &abs, true) {
            sha = fs::File::open(&path)
                .ok()
                .and_then(|f| sha256::hex_of(f).ok());
            symvers = Some(path.display().to_string());
        }
    }
    let os_release =
        host_text(host, "/etc/os-release").or_else(|| host_text(host, "/usr/lib/os-release"));
    let os_version = os_release
        .as_deref()
        .and_then(|t| os_release_field(t, "VERSION_ID"));
    let nohostext = host_text(host, "/proc/cmdline").is_some_and(|c| has_nohostext(&c));
    Host {
        root: host.display().to_string(),
        kernel_release: release.clone(),
        kernel_version: version,
        module_symvers: symvers,
        module_symvers_sha256: sha,
        os_version,
        nohostext,
        page_size: crate::sys::page_size() as u64,
    }
}

/// A kernel release up to its first `-` or `+`: `5.15.92-v8` → `5.15.92`.
fn kernel_version(release: &str) -> String {
    release
        .split(['-', '+'])
        .next()
        .unwrap_or(release)
        .to_string()
}

/// A field of an os-release file, unquoted.
fn os_release_field(text: &str, field: &str) -> Option<String> {
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        if k.trim() != field {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        return Some(v.to_string());
    }
    None
}

/// Whether the kernel command line turns host extensions off.
fn has_nohostext(cmdline: &str) -> bool {
    cmdline
        .split_whitespace()
        .any(|w| w == "balena.nohostext" || w.starts_with("balena.nohostext="))
}

/// `sha256:ABC…` → `abc…`.
pub(super) fn abi_digest(label: &str) -> String {
    let v = label.trim();
    let v = v
        .strip_prefix("sha256:")
        .or_else(|| v.strip_prefix("SHA256:"))
        .unwrap_or(v);
    v.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_stop_at_the_local_version() {
        assert_eq!(kernel_version("5.15.92-v8"), "5.15.92");
        assert_eq!(kernel_version("6.1.0+"), "6.1.0");
        assert_eq!(kernel_version("6.1.0"), "6.1.0");
    }

    #[test]
    fn reads_os_release_fields_quoted_or_not() {
        let t = "NAME=\"balenaOS\"\nVERSION_ID=\"2.113.18\"\nID=balena-os\n";
        assert_eq!(
            os_release_field(t, "VERSION_ID").as_deref(),
            Some("2.113.18")
        );
        assert_eq!(os_release_field(t, "ID").as_deref(), Some("balena-os"));
        assert_eq!(
            os_release_field("VERSION_ID='6.0'", "VERSION_ID").as_deref(),
            Some("6.0")
        );
        assert_eq!(os_release_field(t, "VERSION"), None);
    }

    #[test]
    fn finds_nohostext_as_a_whole_word_only() {
        assert!(has_nohostext("root=/dev/x balena.nohostext quiet\n"));
        assert!(has_nohostext("balena.nohostext=1"));
        assert!(!has_nohostext("root=/dev/x balena.nohostextra"));
    }

    #[test]
    fn abi_ids_compare_with_or_without_a_prefix() {
        assert_eq!(abi_digest("sha256:ABCD"), "abcd");
        assert_eq!(abi_digest(" abcd "), "abcd");
    }
}
