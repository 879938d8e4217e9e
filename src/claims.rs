//! An extension's claims about the host it is for — kernel version, kernel
//! ABI, OS version — and whether each holds on this host. One module
//! decides it for both `extension-inspect` and `manager cleanup --stale-os`,
//! so what inspect shows is what the manager acts on.
//!
//! A claim that cannot be decided (a malformed label, a host value that
//! cannot be read) is a [`Verdict::Doubt`], never a failure: the manager
//! must not delete an extension on a guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::glob;
use crate::hostfs::host_lookup;
use crate::labels::{self, KERNEL_ABI_ID, KERNEL_VERSION, OS_VERSION};
use crate::sha256;

/// `kernel_abi_source` when the identity came from the kernel command line,
/// where balenaOS's initramfs puts the SHA-256 of the booted kernel image.
pub const ABI_FROM_CMDLINE: &str = "balena_kernel_abi= on /proc/cmdline";

const ABI_TOKEN: &str = "balena_kernel_abi=";
const OSRELEASE: &str = "/proc/sys/kernel/osrelease";
const CMDLINE: &str = "/proc/cmdline";

/// Host files read here are a line or a few; cap them anyway.
const MAX_HOST_TEXT: u64 = 1 << 20;

/// Label values quoted in notes are cut to about this many bytes.
const NOTE_VALUE: usize = 40;

/// What the host is, read under a root (`/` on a device).
pub struct Host {
    /// `/proc/sys/kernel/osrelease`, trimmed.
    pub kernel_release: Option<String>,
    /// Its M.m.p part.
    pub kernel_version: Option<String>,
    /// The running kernel's identity: `balena_kernel_abi=` on /proc/cmdline,
    /// else the SHA-256 of `/lib/modules/<release>/Module.symvers`.
    pub kernel_abi: Option<String>,
    /// Where `kernel_abi` came from, for people: "balena_kernel_abi= on
    /// /proc/cmdline" or the Module.symvers path.
    pub kernel_abi_source: Option<String>,
    /// `VERSION_ID` of os-release.
    pub os_version: Option<String>,
    /// `balena.nohostext` on /proc/cmdline.
    pub nohostext: bool,
}

/// Reads the host facts under `root`. Nothing here fails: what cannot be
/// read is None, and the claims that need it become doubts.
pub fn read_host(root: &Path) -> Host {
    let release = host_text(root, OSRELEASE)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let cmdline = host_text(root, CMDLINE).unwrap_or_default();
    let (kernel_abi, kernel_abi_source) = match cmdline_abi(&cmdline) {
        Some(id) => (Some(id), Some(ABI_FROM_CMDLINE.to_string())),
        // Before the initramfs set the token, Module.symvers was the
        // kernel's fingerprint.
        None => match release.as_deref().and_then(|r| {
            let sha = sha256::of_file(&symvers_path(root, r)?).ok()?;
            Some((sha, symvers_abs(r)))
        }) {
            Some((sha, path)) => (Some(sha), Some(path)),
            None => (None, None),
        },
    };
    // os-release(5): /etc/os-release wins as a whole when it exists.
    let os_version = host_text(root, "/etc/os-release")
        .or_else(|| host_text(root, "/usr/lib/os-release"))
        .and_then(|t| os_release_field(&t, "VERSION_ID"))
        .filter(|v| !v.is_empty());
    Host {
        kernel_version: release.as_deref().map(kernel_version),
        kernel_release: release,
        kernel_abi,
        kernel_abi_source,
        os_version,
        nohostext: has_nohostext(&cmdline),
    }
}

/// The host facts as a boot sees them, before the root is mounted: the
/// kernel `release`, the kernel command line, the SHA-256 of a
/// `Module.symvers` (with where it was) for when the command line has no
/// `balena_kernel_abi=`, and the text of the OS's os-release.
pub fn boot_host(
    release: &str,
    cmdline: &str,
    symvers: Option<(String, String)>,
    os_release: Option<&str>,
) -> Host {
    let release = Some(release.trim().to_string()).filter(|r| !r.is_empty());
    let (kernel_abi, kernel_abi_source) = match cmdline_abi(cmdline) {
        Some(id) => (Some(id), Some(ABI_FROM_CMDLINE.to_string())),
        None => symvers.unzip(),
    };
    Host {
        kernel_version: release.as_deref().map(kernel_version),
        kernel_release: release,
        kernel_abi,
        kernel_abi_source,
        os_version: os_release
            .and_then(|t| os_release_field(t, "VERSION_ID"))
            .filter(|v| !v.is_empty()),
        nohostext: has_nohostext(cmdline),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The claim holds on this host.
    Holds,
    /// The claim is well-formed and does not hold: the extension is stale.
    Fails,
    /// The label is malformed, or the host value cannot be read: never act
    /// on it (keep, and warn).
    Doubt,
}

/// One claim an extension makes (only labels that are present).
pub struct Claim {
    /// The full label name.
    pub label: &'static str,
    pub value: String,
    pub verdict: Verdict,
    /// Why, with the values compared: "claims 5.15.92, the running kernel
    /// is 6.1.0".
    pub note: String,
}

/// The claims among `labels` (kernel-version, kernel-abi-id, os-version),
/// each checked against `host`. An absent label is no claim: not listed.
pub fn check(labels: &BTreeMap<String, String>, host: &Host) -> Vec<Claim> {
    let mut out = Vec::new();
    for label in [KERNEL_VERSION, KERNEL_ABI_ID, OS_VERSION] {
        let Some(value) = labels.get(label) else {
            continue;
        };
        let (verdict, note) = if !well_formed(label, value) {
            let what = match label {
                KERNEL_VERSION => "not a kernel version (major.minor.patch)",
                KERNEL_ABI_ID => "not a sha256 (64 hex digits)",
                _ => "no os version glob in it",
            };
            let v = short(value);
            (Verdict::Doubt, format!("claims \"{v}\", {what}"))
        } else {
            match label {
                KERNEL_VERSION => kernel_version_claim(value, host),
                KERNEL_ABI_ID => kernel_abi_claim(value, host),
                _ => os_version_claim(value, host),
            }
        };
        out.push(Claim {
            label,
            value: value.clone(),
            verdict,
            note,
        });
    }
    out
}

/// Whether `value` has the form `label` requires (true for labels that
/// make no claim). A claim that is not well-formed is always a doubt.
pub fn well_formed(label: &str, value: &str) -> bool {
    match label {
        KERNEL_VERSION => labels::is_kernel_version(value),
        KERNEL_ABI_ID => is_sha256(&abi_digest(value)),
        OS_VERSION => globs(value).next().is_some(),
        _ => true,
    }
}

/// Called by [`check`] with well-formed label values only, as are the
/// other two claims.
fn kernel_version_claim(value: &str, host: &Host) -> (Verdict, String) {
    let Some(running) = &host.kernel_version else {
        return doubt(
            "the running kernel's release cannot be read (/proc/sys/kernel/osrelease)".into(),
        );
    };
    if !labels::is_kernel_version(running) {
        let r = short(host.kernel_release.as_deref().unwrap_or(running));
        return doubt(format!(
            "the running kernel's release \"{r}\" has no major.minor.patch"
        ));
    }
    // 5.15.092 is 5.15.92: compared as numbers, not as text.
    let verdict = if numbers(value).eq(numbers(running)) {
        Verdict::Holds
    } else {
        Verdict::Fails
    };
    (
        verdict,
        format!("claims {value}, the running kernel is {running}"),
    )
}

fn kernel_abi_claim(value: &str, host: &Host) -> (Verdict, String) {
    let want = abi_digest(value);
    let (Some(have), Some(source)) = (&host.kernel_abi, &host.kernel_abi_source) else {
        let mut note = String::from(
            "the running kernel's abi cannot be read: no balena_kernel_abi= on /proc/cmdline, ",
        );
        match &host.kernel_release {
            Some(r) => note += &format!("no readable {}", symvers_abs(r)),
            None => note += "no kernel release in /proc/sys/kernel/osrelease",
        }
        return doubt(note);
    };
    let have = abi_digest(have);
    if !is_sha256(&have) {
        let h = short(&have);
        return doubt(format!(
            "the running kernel's abi \"{h}\" ({source}) is not a sha256"
        ));
    }
    if want == have {
        let note = format!("sha256 {}… is the running kernel's ({source})", &want[..8]);
        (Verdict::Holds, note)
    } else {
        let note = format!(
            "sha256 {}… is not the running kernel's {}… ({source})",
            &want[..8],
            &have[..8]
        );
        (Verdict::Fails, note)
    }
}

fn os_version_claim(value: &str, host: &Host) -> (Verdict, String) {
    let Some(running) = &host.os_version else {
        return doubt(
            "the os version cannot be read: no VERSION_ID in /etc/os-release \
             or /usr/lib/os-release"
                .to_string(),
        );
    };
    let verdict = if globs(value).any(|g| glob::matches(g, running)) {
        Verdict::Holds
    } else {
        Verdict::Fails
    };
    let mut list = String::new();
    for g in globs(value) {
        if !list.is_empty() {
            list += ", ";
        }
        list += g;
    }
    (
        verdict,
        format!("claims {}, the os is {running}", short(&list)),
    )
}

/// The parts of `M.m.p` without leading zeros.
fn numbers(v: &str) -> impl Iterator<Item = &str> {
    v.split('.').map(|p| p.trim_start_matches('0'))
}

fn doubt(note: String) -> (Verdict, String) {
    (Verdict::Doubt, note)
}

/// The non-empty globs of a comma-separated list.
fn globs(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|g| !g.is_empty())
}

/// A label value as quoted in a note: cut so that the note fits a line.
fn short(v: &str) -> String {
    if v.len() <= NOTE_VALUE {
        return v.to_string();
    }
    let mut end = NOTE_VALUE - 1;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &v[..end])
}

fn is_sha256(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A kernel ABI id as compared: `sha256:ABC…` → `abc…`.
pub fn abi_digest(value: &str) -> String {
    let v = value.trim();
    let v = v
        .strip_prefix("sha256:")
        .or_else(|| v.strip_prefix("SHA256:"))
        .unwrap_or(v);
    v.to_ascii_lowercase()
}

/// Where `/lib/modules/<release>/Module.symvers` is under `root`, symlinks
/// resolved inside it; None when there is none.
pub fn symvers_path(root: &Path, release: &str) -> Option<PathBuf> {
    host_lookup(root, &symvers_abs(release), true).map(|(path, _)| path)
}

pub fn symvers_abs(release: &str) -> String {
    format!("/lib/modules/{release}/Module.symvers")
}

/// Reads a small host file; None when it is missing or unreadable.
fn host_text(root: &Path, abs: &str) -> Option<String> {
    let (path, _) = host_lookup(root, abs, true)?;
    crate::json::read_text(&path, MAX_HOST_TEXT, false).ok()
}

/// The last `balena_kernel_abi=` on the command line (the kernel too lets
/// the last of a repeated parameter win), as compared. Present but empty
/// is kept: a doubt, not a reason to fall back to Module.symvers.
fn cmdline_abi(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .rev()
        .find_map(|w| w.strip_prefix(ABI_TOKEN))
        .map(abi_digest)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// sha256 of "symbols\n".
    const SYMVERS_SHA: &str = "9c56ff3b4925c42ef26c38e46e9bf6be42ff5ef99922c88b52fde9ae4361e238";
    const IMAGE_SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809";
    const RELEASE: &str = "5.15.92-v8";

    struct Root(PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let d = std::env::temp_dir().join(format!("ber-claims-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Root(d)
        }

        fn file(&self, abs: &str, body: &str) -> &Root {
            let p = self.0.join(abs.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
            self
        }

        /// A balenaOS-like host: release, symvers, os-release, a plain
        /// command line.
        fn device(tag: &str) -> Root {
            let r = Root::new(tag);
            r.file(OSRELEASE, &format!("{RELEASE}\n"))
                .file(CMDLINE, "console=ttyS0 root=/dev/mmcblk0p2\n")
                .file(&symvers_abs(RELEASE), "symbols\n")
                .file(
                    "/etc/os-release",
                    "NAME=\"balenaOS\"\nVERSION_ID=\"2.113.18\"\n",
                );
            r
        }

        fn host(&self) -> Host {
            read_host(&self.0)
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn one(label: &'static str, value: &str, host: &Host) -> Claim {
        let mut labels = BTreeMap::new();
        labels.insert(label.to_string(), value.to_string());
        let mut claims = check(&labels, host);
        assert_eq!(claims.len(), 1);
        claims.remove(0)
    }

    fn verdict(label: &'static str, value: &str, host: &Host) -> Verdict {
        one(label, value, host).verdict
    }

    fn name(v: Verdict) -> &'static str {
        match v {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Doubt => "doubt",
        }
    }

    fn expect(label: &'static str, value: &str, host: &Host, want: Verdict) -> String {
        let c = one(label, value, host);
        assert!(
            c.verdict == want,
            "{label}={value}: {} ({}), expected {}",
            name(c.verdict),
            c.note,
            name(want)
        );
        assert!(
            !c.note.is_empty() && c.note.chars().count() <= 160,
            "{}",
            c.note
        );
        assert!(!c.note.starts_with(char::is_uppercase), "{}", c.note);
        c.note
    }

    #[test]
    fn reads_the_host_facts_of_a_device() {
        let r = Root::device("facts");
        let h = r.host();
        assert_eq!(h.kernel_release.as_deref(), Some(RELEASE));
        assert_eq!(h.kernel_version.as_deref(), Some("5.15.92"));
        assert_eq!(h.kernel_abi.as_deref(), Some(SYMVERS_SHA));
        assert_eq!(
            h.kernel_abi_source.as_deref(),
            Some("/lib/modules/5.15.92-v8/Module.symvers")
        );
        assert_eq!(h.os_version.as_deref(), Some("2.113.18"));
        assert!(!h.nohostext);
    }

    #[test]
    fn the_cmdline_token_is_preferred_over_module_symvers() {
        let r = Root::device("token");
        r.file(
            CMDLINE,
            &format!(
                "root=/dev/x balena_kernel_abi={} quiet\n",
                IMAGE_SHA.to_uppercase()
            ),
        );
        let h = r.host();
        assert_eq!(h.kernel_abi.as_deref(), Some(IMAGE_SHA), "lower-cased");
        assert_eq!(h.kernel_abi_source.as_deref(), Some(ABI_FROM_CMDLINE));
        expect(KERNEL_ABI_ID, IMAGE_SHA, &h, Verdict::Holds);
        let note = expect(KERNEL_ABI_ID, SYMVERS_SHA, &h, Verdict::Fails);
        assert_eq!(
            note,
            "sha256 9c56ff3b… is not the running kernel's 1a2b3c4d… \
             (balena_kernel_abi= on /proc/cmdline)"
        );
        // The last one wins, as for the kernel.
        r.file(
            CMDLINE,
            &format!("balena_kernel_abi={SYMVERS_SHA} balena_kernel_abi={IMAGE_SHA}\n"),
        );
        assert_eq!(r.host().kernel_abi.as_deref(), Some(IMAGE_SHA));
    }

    #[test]
    fn without_the_token_module_symvers_is_the_kernel_abi() {
        let h = Root::device("symvers").host();
        let note = expect(KERNEL_ABI_ID, SYMVERS_SHA, &h, Verdict::Holds);
        assert!(
            note.ends_with("(/lib/modules/5.15.92-v8/Module.symvers)"),
            "{note}"
        );
        expect(KERNEL_ABI_ID, IMAGE_SHA, &h, Verdict::Fails);
    }

    #[test]
    fn abi_ids_take_a_sha256_prefix_and_any_case() {
        let h = Root::device("case").host();
        for v in [
            format!("sha256:{SYMVERS_SHA}"),
            format!("SHA256:{SYMVERS_SHA}"),
            SYMVERS_SHA.to_uppercase(),
            format!(" sha256:{} ", SYMVERS_SHA.to_uppercase()),
        ] {
            expect(KERNEL_ABI_ID, &v, &h, Verdict::Holds);
        }
    }

    #[test]
    fn an_unreadable_kernel_abi_is_a_doubt() {
        // Neither the token nor Module.symvers.
        let r = Root::device("noabi");
        fs::remove_file(r.0.join("lib/modules/5.15.92-v8/Module.symvers")).unwrap();
        let h = r.host();
        assert!(h.kernel_abi.is_none() && h.kernel_abi_source.is_none());
        let note = expect(KERNEL_ABI_ID, SYMVERS_SHA, &h, Verdict::Doubt);
        assert!(
            note.contains("no readable /lib/modules/5.15.92-v8/Module.symvers"),
            "{note}"
        );
        // No release, so no Module.symvers to look for.
        let r = Root::new("norelease");
        let note = expect(KERNEL_ABI_ID, SYMVERS_SHA, &r.host(), Verdict::Doubt);
        assert!(note.contains("no kernel release"), "{note}");
        // A token that is not a sha256 is a doubt, not a fall-back.
        let r = Root::device("badtoken");
        r.file(CMDLINE, "balena_kernel_abi= quiet\n");
        let h = r.host();
        assert_eq!(h.kernel_abi_source.as_deref(), Some(ABI_FROM_CMDLINE));
        expect(KERNEL_ABI_ID, SYMVERS_SHA, &h, Verdict::Doubt);
    }

    #[test]
    fn a_malformed_abi_label_is_a_doubt() {
        let h = Root::device("badabi").host();
        for v in [
            "",
            "sha256:",
            "abcd",
            &"g".repeat(64),
            &format!("{SYMVERS_SHA}0"),
        ] {
            expect(KERNEL_ABI_ID, v, &h, Verdict::Doubt);
            assert!(!well_formed(KERNEL_ABI_ID, v), "{v}");
        }
        assert!(well_formed(KERNEL_ABI_ID, &format!("sha256:{SYMVERS_SHA}")));
    }

    #[test]
    fn kernel_versions_hold_fail_or_doubt() {
        let h = Root::device("kver").host();
        let note = expect(KERNEL_VERSION, "5.15.92", &h, Verdict::Holds);
        assert_eq!(note, "claims 5.15.92, the running kernel is 5.15.92");
        expect(KERNEL_VERSION, "5.15.092", &h, Verdict::Holds);
        let note = expect(KERNEL_VERSION, "6.1.0", &h, Verdict::Fails);
        assert_eq!(note, "claims 6.1.0, the running kernel is 5.15.92");
        expect(KERNEL_VERSION, "5.15.9", &h, Verdict::Fails);
        for bad in ["5.15", "5.15.x", "", "v5.15.92", "5.15.92-v8"] {
            expect(KERNEL_VERSION, bad, &h, Verdict::Doubt);
            assert!(!well_formed(KERNEL_VERSION, bad));
        }
        let note = expect(
            KERNEL_VERSION,
            "5.15.92",
            &Root::new("nokver").host(),
            Verdict::Doubt,
        );
        assert!(note.contains(OSRELEASE), "{note}");
        let r = Root::device("oddrelease");
        r.file(OSRELEASE, "6.1\n");
        expect(KERNEL_VERSION, "6.1.0", &r.host(), Verdict::Doubt);
    }

    #[test]
    fn os_versions_are_lists_of_globs() {
        let h = Root::device("os").host();
        let note = expect(OS_VERSION, " 2.112.* , 2.113.* ", &h, Verdict::Holds);
        assert_eq!(note, "claims 2.112.*, 2.113.*, the os is 2.113.18");
        expect(OS_VERSION, "2.113.18", &h, Verdict::Holds);
        expect(OS_VERSION, "2.[0-9]*.1?,", &h, Verdict::Holds);
        expect(OS_VERSION, "2.112.*, 3.*", &h, Verdict::Fails);
        expect(OS_VERSION, "2.113.1", &h, Verdict::Fails);
        for bad in ["", " ", " , ,"] {
            expect(OS_VERSION, bad, &h, Verdict::Doubt);
            assert!(!well_formed(OS_VERSION, bad));
        }
    }

    #[test]
    fn os_release_falls_back_to_usr_lib_and_its_absence_is_a_doubt() {
        let r = Root::device("osrel");
        fs::remove_file(r.0.join("etc/os-release")).unwrap();
        let note = expect(OS_VERSION, "2.*", &r.host(), Verdict::Doubt);
        assert!(note.contains("no VERSION_ID"), "{note}");
        r.file("/usr/lib/os-release", "VERSION_ID=6.0.1\n");
        assert_eq!(r.host().os_version.as_deref(), Some("6.0.1"));
        expect(OS_VERSION, "6.0.*", &r.host(), Verdict::Holds);
        // An empty VERSION_ID is no version.
        r.file("/etc/os-release", "VERSION_ID=\"\"\n");
        assert!(r.host().os_version.is_none());
        expect(OS_VERSION, "*", &r.host(), Verdict::Doubt);
    }

    #[test]
    fn absent_labels_are_no_claims_and_claims_come_in_order() {
        let h = Root::device("order").host();
        let mut labels = BTreeMap::new();
        assert!(check(&labels, &h).is_empty());
        labels.insert(labels::CLASS.to_string(), "overlay".to_string());
        labels.insert(OS_VERSION.to_string(), "2.*".to_string());
        labels.insert(KERNEL_VERSION.to_string(), "5.15.92".to_string());
        let claims = check(&labels, &h);
        let names: Vec<&str> = claims.iter().map(|c| c.label).collect();
        assert_eq!(names, [KERNEL_VERSION, OS_VERSION]);
        assert_eq!(claims[1].value, "2.*");
    }

    #[test]
    fn long_label_values_are_cut_in_notes() {
        let h = Root::device("long").host();
        let long = "x".repeat(500);
        let note = expect(KERNEL_VERSION, &long, &h, Verdict::Doubt);
        assert!(note.chars().count() < 100, "{note}");
        assert!(verdict(OS_VERSION, &long, &h) == Verdict::Fails);
    }

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
        let r = Root::device("nohostext");
        r.file(CMDLINE, "root=/dev/x balena.nohostext\n");
        assert!(r.host().nohostext);
    }

    #[test]
    fn abi_ids_compare_with_or_without_a_prefix() {
        assert_eq!(abi_digest("sha256:ABCD"), "abcd");
        assert_eq!(abi_digest(" abcd "), "abcd");
    }
}
