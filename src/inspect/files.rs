//! Reading an extension's files: a stack of overlay layers seen as one
//! tree, and what a hook needs to be executed. Host paths are resolved by
//! [`crate::hostfs`].

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// An overlayfs whiteout: a character device 0:0 deleting a lower file.
pub fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// An overlayfs opaque directory hides everything below it.
fn is_opaque(dir: &Path) -> bool {
    let Ok(path) = crate::sys::cstring(dir) else {
        return false;
    };
    for name in [c"trusted.overlay.opaque", c"user.overlay.opaque"] {
        let mut value = [0u8; 1];
        // SAFETY: both strings are NUL-terminated and `value` is a live
        // buffer of the length passed.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if n == 1 && value[0] == b'y' {
            return true;
        }
    }
    false
}

/// What one entry of the extension's tree is.
pub struct Entry<'a> {
    /// Absolute path as the host would see it: `/etc/os-release`, as shown
    /// (a name that is not UTF-8 has U+FFFD in it here).
    pub path: &'a str,
    /// The same path as it is, in bytes: what is looked up on the host.
    pub raw: &'a Path,
    pub meta: &'a Metadata,
    pub whiteout: bool,
}

/// The extension's rootfs: one directory, or overlay layers (top first) as
/// an engine stores an image it has not mounted.
pub struct View {
    pub layers: Vec<PathBuf>,
}

impl View {
    /// `rel` (no leading `/`) in the topmost layer that has it; None if no
    /// layer has it or a whiteout deletes it.
    pub fn lookup(&self, rel: &str) -> Option<(PathBuf, Metadata)> {
        for layer in &self.layers {
            let path = layer.join(rel);
            if let Ok(m) = fs::symlink_metadata(&path) {
                return if is_whiteout(&m) {
                    None
                } else {
                    Some((path, m))
                };
            }
        }
        None
    }

    /// Visits every entry of the merged tree, parents before children,
    /// without following symlinks.
    pub fn walk(&self, visit: &mut dyn FnMut(&Entry)) {
        let top: Vec<usize> = (0..self.layers.len())
            .filter(|&i| self.layers[i].is_dir())
            .collect();
        // (path relative to the layers, as bytes; as shown; its layers)
        let mut stack: Vec<(PathBuf, String, Vec<usize>)> =
            vec![(PathBuf::new(), String::new(), top)];
        while let Some((rel_dir, dir, layers)) = stack.pop() {
            // Every layer's entries, upper layers first; a name seen in an
            // upper layer hides the same name below.
            let mut names: Vec<(OsString, usize, Metadata)> = Vec::new();
            for &li in &layers {
                let here = self.layers[li].join(&rel_dir);
                let Ok(entries) = fs::read_dir(&here) else {
                    continue;
                };
                for e in entries.flatten() {
                    if let Ok(m) = fs::symlink_metadata(e.path()) {
                        names.push((e.file_name(), li, m));
                    }
                }
                if is_opaque(&here) {
                    break;
                }
            }
            // Among equal names the upper layer's (lower index) comes first.
            crate::sys::sort_by(&mut names, |a, b| (&a.0, a.1) < (&b.0, b.1));
            names.dedup_by(|later, first| later.0 == first.0);
            let mut children = Vec::new();
            for (name, li, meta) in names {
                let path = format!("{dir}/{}", name.to_string_lossy());
                let rel = rel_dir.join(&name);
                let whiteout = is_whiteout(&meta);
                visit(&Entry {
                    path: &path,
                    raw: &Path::new("/").join(&rel),
                    meta: &meta,
                    whiteout,
                });
                if whiteout || !meta.is_dir() {
                    continue;
                }
                let mut below = vec![li];
                if !is_opaque(&self.layers[li].join(&rel)) {
                    for &lj in layers.iter().filter(|&&lj| lj > li) {
                        match fs::symlink_metadata(self.layers[lj].join(&rel)) {
                            Ok(m) if m.is_dir() => below.push(lj),
                            Ok(_) => break,
                            Err(_) => {}
                        }
                    }
                }
                children.push((rel, path, below));
            }
            // Reversed, so entries come out in name order.
            stack.extend(children.into_iter().rev());
        }
    }
}

/// How the kernel would execute a file.
#[derive(PartialEq, Eq)]
pub enum Exec {
    /// `#!interpreter [argument]`.
    Script(String, Option<String>),
    /// An ELF program and its dynamic loader (None when static).
    Elf(Option<String>),
    /// Neither: execve fails with "exec format error".
    Unknown,
}

/// Reads the shebang line or the ELF program interpreter of `path`.
pub fn exec_kind(path: &Path) -> std::io::Result<Exec> {
    let mut file = crate::readfile::open(path, false).map_err(|e| std::io::Error::other(e.msg))?;
    let mut head = [0u8; 256];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&b| b == b'\n').next().unwrap_or(b"");
        let line = String::from_utf8_lossy(line);
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let interp = words.next().unwrap_or("").to_string();
        let rest: Vec<&str> = words.collect();
        let arg = if rest.is_empty() {
            None
        } else {
            Some(rest.join(" "))
        };
        return Ok(Exec::Script(interp, arg));
    }
    if head.len() >= 52 && head.starts_with(b"\x7fELF") {
        return elf_interpreter(&mut file, head).map(Exec::Elf);
    }
    Ok(Exec::Unknown)
}

/// The PT_INTERP of an ELF file whose first bytes are `head`.
fn elf_interpreter(file: &mut File, head: &[u8]) -> std::io::Result<Option<String>> {
    let wide = head[4] == 2;
    let big = head[5] == 2;
    let num = |b: &[u8]| -> u64 {
        let mut v = 0u64;
        for i in 0..b.len() {
            let byte = if big { b[i] } else { b[b.len() - 1 - i] };
            v = (v << 8) | byte as u64;
        }
        v
    };
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed ELF header");
    let (phoff, phentsize, phnum) = if wide {
        if head.len() < 64 {
            return Err(bad());
        }
        (
            num(&head[0x20..0x28]),
            num(&head[0x36..0x38]),
            num(&head[0x38..0x3a]),
        )
    } else {
        (
            num(&head[0x1c..0x20]),
            num(&head[0x2a..0x2c]),
            num(&head[0x2c..0x2e]),
        )
    };
    let min_entry = if wide { 0x38 } else { 0x20 };
    if phentsize < min_entry || phnum > 512 {
        return Err(bad());
    }
    let mut ph = vec![0u8; phentsize as usize];
    for i in 0..phnum {
        file.seek(SeekFrom::Start(phoff + i * phentsize))?;
        file.read_exact(&mut ph)?;
        if num(&ph[0..4]) != 3 {
            continue;
        }
        let (offset, size) = if wide {
            (num(&ph[0x08..0x10]), num(&ph[0x20..0x28]))
        } else {
            (num(&ph[0x04..0x08]), num(&ph[0x10..0x14]))
        };
        if size == 0 || size > 4096 {
            return Err(bad());
        }
        let mut name = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut name)?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        return Ok(Some(String::from_utf8_lossy(&name[..end]).into_owned()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ber-inspect-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn merges_layers_with_whiteouts_and_upper_entries_winning() {
        let d = temp("layers");
        let (up, low) = (d.join("up"), d.join("low"));
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::create_dir_all(low.join("etc")).unwrap();
        fs::create_dir_all(low.join("gone")).unwrap();
        fs::write(up.join("etc/a"), "upper").unwrap();
        fs::write(low.join("etc/a"), "lower!").unwrap();
        fs::write(low.join("etc/b"), "b").unwrap();
        fs::write(low.join("gone/x"), "x").unwrap();
        let wh = sys_mknod_whiteout(&up.join("gone"));
        let view = View {
            layers: vec![up.clone(), low.clone()],
        };
        let mut seen = Vec::new();
        view.walk(&mut |e| {
            seen.push(format!(
                "{} {}{}",
                e.path,
                e.meta.len(),
                if e.whiteout { " wh" } else { "" }
            ))
        });
        let dir = fs::symlink_metadata(up.join("etc")).unwrap().len();
        let mut want = vec![format!("/etc {dir}"), "/etc/a 5".into(), "/etc/b 1".into()];
        if wh {
            want.push("/gone 0 wh".into());
            assert!(view.lookup("gone").is_none());
        } else {
            let gone = fs::symlink_metadata(low.join("gone")).unwrap().len();
            want.push(format!("/gone {gone}"));
            want.push("/gone/x 1".into());
        }
        seen.sort();
        want.sort();
        assert_eq!(seen, want);
        assert_eq!(
            fs::read_to_string(view.lookup("etc/a").unwrap().0).unwrap(),
            "upper"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    /// Makes a whiteout if allowed (root); false otherwise.
    fn sys_mknod_whiteout(path: &Path) -> bool {
        let c = crate::sys::cstring(path).unwrap();
        // SAFETY: `c` is a NUL-terminated path.
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) == 0 }
    }

    #[test]
    fn reads_shebangs_and_elf_interpreters() {
        let d = temp("exec");
        fs::write(d.join("s"), "#!/usr/bin/env  bash -e\necho\n").unwrap();
        assert!(
            exec_kind(&d.join("s")).unwrap()
                == Exec::Script("/usr/bin/env".into(), Some("bash -e".into()))
        );
        fs::write(d.join("t"), "echo hi\n").unwrap();
        assert!(exec_kind(&d.join("t")).unwrap() == Exec::Unknown);
        // The test binary itself: a dynamically linked ELF program names
        // its loader; a static one (musl's default) has none.
        let me = std::env::current_exe().unwrap();
        match (exec_kind(&me).unwrap(), cfg!(target_feature = "crt-static")) {
            (Exec::Elf(Some(loader)), false) => assert!(loader.contains("ld-"), "{loader}"),
            (Exec::Elf(None), true) => {}
            _ => panic!("the test binary's ELF interpreter does not match how it was linked"),
        }
        fs::remove_dir_all(&d).unwrap();
    }
}
