//! The extension's files: counted, and each one that would shadow (or, as a
//! whiteout, delete) a host path listed, flagged when the host needs it.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::files::{self, View};
use super::{Content, Findings, Shadow, Shadows, MAX_SHADOWS};
use crate::glob;
use crate::hostfs::{host_lookup, host_lookup_path};

/// This program's path on the host, if it lives inside the host root.
pub(super) fn own_path(host: &Path) -> Option<String> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let host = host.canonicalize().ok()?;
    let rel = exe.strip_prefix(&host).ok()?;
    Some(format!("/{}", rel.display()))
}

/// Host paths an extension must not replace, and why.
const ESSENTIAL: &[(&str, &str)] = &[
    ("/etc/os-release", "os-release identifies the OS"),
    ("/usr/lib/os-release", "os-release identifies the OS"),
    ("/lib/ld-linux*", "the dynamic loader"),
    ("/lib64/ld-linux*", "the dynamic loader"),
    ("/lib/ld-musl*", "the dynamic loader"),
    ("/usr/lib/ld-linux*", "the dynamic loader"),
    ("/usr/lib64/ld-linux*", "the dynamic loader"),
    ("/bin/sh", "the shell"),
    ("/sbin/init", "init"),
    ("/lib/systemd/systemd", "init"),
    ("/usr/lib/systemd/systemd", "init"),
    ("/boot", "boot files"),
    ("/boot/*", "boot files"),
    ("/usr/bin/balena-engine*", "the container engine"),
    ("/usr/bin/docker*", "the container engine"),
    ("/usr/bin/balena-extension-*", "this runtime"),
];

/// Why replacing `path` would break the host, if it would: it is essential,
/// or (when it replaces a directory) holds something essential.
fn danger(path: &str, hides_dir: bool, own: Option<&str>) -> Option<String> {
    if own == Some(path) {
        return Some("this runtime".to_string());
    }
    for (pattern, why) in ESSENTIAL {
        if glob::matches(pattern, path) {
            return Some(why.to_string());
        }
        if hides_dir
            && pattern.len() > path.len()
            && pattern.starts_with(path)
            && pattern.as_bytes()[path.len()] == b'/'
        {
            return Some(format!("hides {why}"));
        }
    }
    if hides_dir {
        if let Some(own) = own {
            if own.starts_with(path) && own.as_bytes().get(path.len()) == Some(&b'/') {
                return Some("hides this runtime".to_string());
            }
        }
    }
    None
}

/// Where the essential paths really are on this host: each one's own
/// entry once its directories' symlinks are followed, and what its last
/// symlink leads to (`/bin/sh` is `/usr/bin/dash` on a Debian host with a
/// merged /usr). An extension file at one of those replaces the essential
/// path as surely as one at its name. (real path, essential path, why)
fn essentials_on_host(host: &Path) -> Vec<(String, String, &'static str)> {
    let rel = |real: &Path| {
        Some(format!(
            "/{}",
            real.strip_prefix(host).ok()?.to_string_lossy()
        ))
    };
    let mut out = Vec::new();
    for (pattern, why) in ESSENTIAL {
        let Some((dir, name)) = pattern.rsplit_once('/') else {
            continue;
        };
        let names: Vec<String> = if name.contains('*') {
            let Some((real_dir, _)) = host_lookup(host, dir, true) else {
                continue;
            };
            let Ok(entries) = fs::read_dir(real_dir) else {
                continue;
            };
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| glob::matches(name, n))
                .collect()
        } else {
            vec![name.to_string()]
        };
        for n in names {
            let named = format!("{dir}/{n}");
            for follow in [false, true] {
                match host_lookup(host, &named, follow).and_then(|(real, _)| rel(&real)) {
                    Some(real) if real != named => out.push((real, named.clone(), *why)),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Why replacing the host's real path `real` (a directory when `hides_dir`)
/// would break an essential path that leads there or below.
fn danger_through(
    real: &str,
    hides_dir: bool,
    essentials: &[(String, String, &str)],
) -> Option<String> {
    essentials.iter().find_map(|(to, named, why)| {
        if to == real {
            Some(format!("{why}: the host's {named} leads there"))
        } else if hides_dir && to.starts_with(real) && to.as_bytes().get(real.len()) == Some(&b'/')
        {
            Some(format!("hides {why}: the host's {named} leads to {to}"))
        } else {
            None
        }
    })
}

fn kind_of(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if files::is_whiteout(m) {
        "whiteout"
    } else if t.is_dir() {
        "dir"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_file() {
        "file"
    } else {
        "special"
    }
}

pub(super) fn check_content(
    view: &View,
    host: &Path,
    own: Option<&str>,
    f: &mut Findings,
) -> (Content, Shadows) {
    let mut c = Content::default();
    let mut s = Shadows {
        count: 0,
        dangerous: 0,
        truncated: false,
        paths: Vec::new(),
    };
    // Directories the host does not have (or has as a non-directory): what
    // is below them is new and needs no lookup.
    // Kept sorted, for binary search; bytes, as names are.
    let mut fresh: Vec<Vec<u8>> = Vec::new();
    let essentials = essentials_on_host(host);
    let mark_fresh = |fresh: &mut Vec<Vec<u8>>, path: &Path| {
        let path = path.as_os_str().as_bytes();
        if let Err(i) = fresh.binary_search_by(|p| p.as_slice().cmp(path)) {
            fresh.insert(i, path.to_vec());
        }
    };
    view.walk(&mut |e| {
        let m = e.meta;
        if e.whiteout {
            c.whiteouts += 1;
        } else if m.is_dir() {
            c.dirs += 1;
        } else if m.file_type().is_symlink() {
            c.symlinks += 1;
        } else if m.is_file() {
            c.files += 1;
            c.bytes += m.len();
        } else {
            c.other += 1;
        }
        if e.path == "/hooks" || e.path.starts_with("/hooks/") {
            return;
        }
        let parent = e
            .raw
            .parent()
            .map_or(&b""[..], |p| p.as_os_str().as_bytes());
        let parent_fresh = fresh.binary_search_by(|p| p.as_slice().cmp(parent)).is_ok();
        let host_meta = if parent_fresh {
            None
        } else {
            host_lookup_path(host, e.raw, false)
        };
        let Some((host_real, hm)) = host_meta else {
            if m.is_dir() && !e.whiteout {
                mark_fresh(&mut fresh, e.raw);
            }
            return;
        };
        if m.is_dir() && !e.whiteout {
            if hm.is_dir() {
                return; // Directories merge.
            }
            mark_fresh(&mut fresh, e.raw);
        }
        // A directory over the host's symlink to a directory (`/bin ->
        // usr/bin` on a merged-/usr host) hides what the host reaches
        // through that symlink: judge it as hiding the directory, under
        // both names.
        let through = if m.is_dir() && !e.whiteout && hm.file_type().is_symlink() {
            host_lookup_path(host, e.raw, true)
                .filter(|(_, dm)| dm.is_dir())
                .and_then(|(real, _)| {
                    let rel = real.strip_prefix(host).ok()?;
                    Some(format!("/{}", rel.to_string_lossy()))
                })
        } else {
            None
        };
        let reason = match &through {
            None => danger(e.path, hm.is_dir(), own).or_else(|| {
                let real = host_real.strip_prefix(host).ok()?;
                let real = format!("/{}", real.to_string_lossy());
                danger_through(&real, hm.is_dir(), &essentials)
            }),
            Some(real) => danger(e.path, true, own)
                .or_else(|| danger(real, true, own))
                .or_else(|| danger_through(real, true, &essentials))
                .map(|why| format!("{why}: the host's {} is a symlink to {real}", e.path)),
        };
        s.count += 1;
        if reason.is_some() {
            s.dangerous += 1;
            let verb = if e.whiteout { "deletes" } else { "shadows" };
            f.incompatible.push(format!(
                "the extension {verb} {} ({})",
                e.path,
                reason.as_deref().unwrap_or("")
            ));
        }
        if s.paths.len() < MAX_SHADOWS {
            s.paths.push(Shadow {
                path: e.path.to_string(),
                kind: kind_of(m).to_string(),
                host_kind: kind_of(&hm).to_string(),
                dangerous: reason.is_some(),
                reason,
            });
        } else {
            s.truncated = true;
        }
    });
    (c, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_essential_paths_and_directories_hiding_them() {
        assert!(danger("/etc/os-release", false, None).is_some());
        assert!(danger("/lib/ld-linux-aarch64.so.1", false, None).is_some());
        assert!(danger("/boot/config.txt", false, None).is_some());
        assert!(danger("/usr/bin/dockerd", false, None).is_some());
        assert!(danger("/usr/bin/foo", false, None).is_none());
        // A symlink replacing the host's /lib directory hides its loader.
        assert!(danger("/lib", true, None).is_some());
        assert!(danger("/lib", false, None).is_none());
        assert!(danger("/opt/ber", false, Some("/opt/ber")).is_some());
        assert!(danger("/opt", true, Some("/opt/ber")).is_some());
    }

    #[test]
    fn a_directory_over_a_host_symlink_hides_what_it_leads_to() {
        let d = std::env::temp_dir().join(format!("ber-content-usr-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let (ext, host) = (d.join("ext"), d.join("host"));
        fs::create_dir_all(ext.join("bin")).unwrap();
        fs::create_dir_all(ext.join("lib64")).unwrap();
        fs::write(ext.join("bin/sh"), "").unwrap();
        fs::write(ext.join("lib64/ld-linux-x86-64.so.2"), "").unwrap();
        fs::create_dir_all(host.join("usr/bin")).unwrap();
        fs::create_dir_all(host.join("usr/lib64")).unwrap();
        fs::write(host.join("usr/bin/sh"), "").unwrap();
        fs::write(host.join("usr/lib64/ld-linux-x86-64.so.2"), "").unwrap();
        std::os::unix::fs::symlink("usr/bin", host.join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/lib64", host.join("lib64")).unwrap();
        let f = dangerous_shadows(ext, &host, 2);
        assert_eq!(
            f.incompatible[0],
            "the extension shadows /bin (hides the shell: the host's /bin is a symlink to /usr/bin)"
        );
        assert!(
            f.incompatible[1].contains("hides the dynamic loader"),
            "{:?}",
            f.incompatible
        );
        fs::remove_dir_all(&d).unwrap();
    }

    /// Checks `ext` against `host`, expecting `dangerous` dangerous shadows.
    fn dangerous_shadows(ext: std::path::PathBuf, host: &Path, dangerous: u64) -> Findings {
        let mut f = Findings {
            invalid: Vec::new(),
            incompatible: Vec::new(),
            warnings: Vec::new(),
        };
        let view = View { layers: vec![ext] };
        let (_, s) = check_content(&view, host, None, &mut f);
        assert_eq!(s.dangerous, dangerous, "{:?}", f.incompatible);
        f
    }

    #[test]
    fn a_file_where_an_essential_path_leads_on_the_host_replaces_it() {
        let d = std::env::temp_dir().join(format!("ber-content-leads-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let (ext, host) = (d.join("ext"), d.join("host"));
        let loader = "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
        for root in [&ext, &host] {
            fs::create_dir_all(root.join("usr/bin")).unwrap();
            fs::create_dir_all(root.join("lib/x86_64-linux-gnu")).unwrap();
            fs::write(root.join("usr/bin/dash"), "").unwrap();
            fs::write(root.join(loader), "").unwrap();
        }
        // Debian's merged /usr: /bin/sh is dash, the loader lives in lib/.
        std::os::unix::fs::symlink("usr/bin", host.join("bin")).unwrap();
        std::os::unix::fs::symlink("dash", host.join("usr/bin/sh")).unwrap();
        fs::create_dir_all(host.join("lib64")).unwrap();
        std::os::unix::fs::symlink(
            format!("/{loader}"),
            host.join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        let f = dangerous_shadows(ext, &host, 2);
        let all = f.incompatible.join("\n");
        assert!(
            all.contains(&format!(
                "the extension shadows /{loader} (the dynamic loader: the host's /lib64/ld-linux-x86-64.so.2 leads there)"
            )),
            "{all}"
        );
        assert!(
            all.contains(
                "the extension shadows /usr/bin/dash (the shell: the host's /bin/sh leads there)"
            ),
            "{all}"
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
