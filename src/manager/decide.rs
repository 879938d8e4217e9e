//! What cleanup removes, and why: pure decisions over what the engine
//! reported, so that a dry run and a real run decide exactly alike.

use crate::claims::{Claim, Verdict};
use crate::engine::{Container, Image, Mount, Summary};
use crate::labels;

/// What to do with one extension container.
pub struct Decision {
    pub remove: bool,
    /// Removed for staleness alone: its deactivate hook runs first.
    pub stale: bool,
    /// `create failed: ...`, `stale: ...`, or why it stays (`installed`).
    pub reason: String,
    /// Claims that could not be judged (never acted on).
    pub doubts: Vec<String>,
}

/// Whether the container's own labels make it an extension. The engine's
/// label filter chose the list; this checks each container again, so that a
/// filter the engine ignored can never hand us someone else's container.
pub fn is_extension(c: &Container) -> bool {
    c.labels.get(labels::CLASS).map(String::as_str) == Some(labels::REQUIRED_CLASS)
}

/// Why a container is a "zombie" that always goes, or None: dead, its
/// runtime's create or start failed, or its start hook rejected it.
pub fn zombie(c: &Container) -> Option<String> {
    match c.status.as_str() {
        "dead" => Some("dead".to_string()),
        "created" if !c.error.is_empty() => Some(format!("create failed: {}", c.error)),
        "exited" if !c.error.is_empty() => Some(format!("start failed: {}", c.error)),
        "exited" if c.exit_code != 0 => {
            Some(format!("rejected: start hook exited {}", c.exit_code))
        }
        _ => None,
    }
}

/// Why a container that is not a zombie stays (when it is not stale).
pub fn keep_reason(c: &Container) -> String {
    match c.status.as_str() {
        "exited" => "installed".to_string(),
        "created" => "created, not started yet (may be mid-install)".to_string(),
        other => other.to_string(),
    }
}

/// Decides on one extension container. `claims` is Some with `--stale-os`:
/// the container's claims checked against the running OS.
///
/// A zombie goes for what it is, stale or not, and runs no deactivate hook:
/// it never became an installed extension, so there is nothing to undo.
/// Otherwise a claim that fails makes it stale, even when another claim is
/// in doubt (the failing one alone proves it); a doubt alone keeps it.
pub fn decide(c: &Container, claims: Option<&[Claim]>) -> Decision {
    let claims = claims.unwrap_or(&[]);
    let doubts: Vec<String> = claims
        .iter()
        .filter(|k| k.verdict == Verdict::Doubt)
        .map(|k| k.note.clone())
        .collect();
    if let Some(reason) = zombie(c) {
        return Decision {
            remove: true,
            stale: false,
            reason,
            doubts: Vec::new(),
        };
    }
    let fails: Vec<&str> = claims
        .iter()
        .filter(|k| k.verdict == Verdict::Fails)
        .map(|k| k.note.as_str())
        .collect();
    if !fails.is_empty() {
        return Decision {
            remove: true,
            stale: true,
            reason: format!("stale: {}", fails.join("; ")),
            doubts,
        };
    }
    Decision {
        remove: false,
        stale: false,
        reason: keep_reason(c),
        doubts,
    }
}

/// The image IDs of the containers that remain: every container listed
/// (of any kind) but those removed in this run. After a real run's
/// removals the list no longer has them; a dry run lists them still, and
/// drops them here: both arrive at the same set.
pub fn remaining_image_ids(listed: &[Summary], removed: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for s in listed {
        if !removed.contains(&s.id) && !ids.contains(&s.image_id) {
            ids.push(s.image_id.clone());
        }
    }
    ids
}

/// Extension images that no remaining container uses (`in_use`: the image
/// IDs of every container, of any kind, that is still there — or would be,
/// in a dry run). Returns (to remove, kept with the ID of a user).
pub fn unused_images<'a>(
    images: &'a [Image],
    in_use: &[String],
) -> (Vec<&'a Image>, Vec<&'a Image>) {
    let mut remove = Vec::new();
    let mut keep = Vec::new();
    for image in images {
        if in_use.contains(&image.id) {
            keep.push(image);
        } else {
            remove.push(image);
        }
    }
    (remove, keep)
}

/// The volume mounts of a container (`kind` volume, with a name).
pub fn volume_mounts(mounts: &[Mount]) -> impl Iterator<Item = &Mount> {
    mounts
        .iter()
        .filter(|m| m.kind == "volume" && !m.name.is_empty())
}

/// The names of the volumes the removed containers mounted, each once: the
/// only volumes cleanup may ever remove.
pub fn volume_candidates<'a>(removed: impl Iterator<Item = &'a Container>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in removed {
        for m in volume_mounts(&c.mounts) {
            if !names.contains(&m.name) {
                names.push(m.name.clone());
            }
        }
    }
    names
}

/// An anonymous volume's name: 64 lower-case hex digits, as the engine
/// generates them. Removing its container with `v=1` removes it too.
pub fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The volumes to remove after a real run's removals: recorded ones the
/// engine now reports dangling. A user's volume is never a candidate, and a
/// candidate some other container still uses is not dangling.
pub fn volumes_to_remove(candidates: &[String], dangling: &[String]) -> Vec<String> {
    candidates
        .iter()
        .filter(|n| dangling.contains(n))
        .cloned()
        .collect()
}

/// The same for a dry run, where nothing was removed and so nothing new is
/// dangling yet: the named candidates no kept extension container mounts
/// (anonymous ones go with their container), and those already dangling.
pub fn volumes_as_if_removed(
    candidates: &[String],
    kept_mounts: &[String],
    dangling: &[String],
) -> Vec<String> {
    candidates
        .iter()
        .filter(|n| dangling.contains(n) || (!is_anonymous(n) && !kept_mounts.contains(n)))
        .cloned()
        .collect()
}

/// A 12-character ID as the engine's CLI shows it (`sha256:` dropped).
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn container(status: &str, error: &str, exit_code: i64) -> Container {
        let mut labels = BTreeMap::new();
        labels.insert(labels::CLASS.to_string(), "overlay".to_string());
        Container {
            id: "3f2a1b2c3d4e5f60718293a4b5c6d7e8f9".to_string(),
            name: "ext".to_string(),
            image_name: "ext:v2".to_string(),
            image_id: "sha256:aa".to_string(),
            status: status.to_string(),
            error: error.to_string(),
            exit_code,
            labels,
            mounts: Vec::new(),
        }
    }

    fn claim(verdict: Verdict, note: &str) -> Claim {
        Claim {
            label: labels::KERNEL_VERSION,
            value: "5.15.0".to_string(),
            verdict,
            note: note.to_string(),
        }
    }

    fn mount(kind: &str, name: &str) -> Mount {
        Mount {
            kind: kind.to_string(),
            name: name.to_string(),
            source: format!("/v/{name}"),
            destination: "/boot".to_string(),
        }
    }

    #[test]
    fn zombies_always_go_with_their_reason() {
        let d = decide(&container("dead", "", 0), None);
        assert!(d.remove && !d.stale);
        assert_eq!(d.reason, "dead");
        let d = decide(&container("created", "oci runtime error: bad", 0), None);
        assert!(d.remove);
        assert_eq!(d.reason, "create failed: oci runtime error: bad");
        let d = decide(&container("exited", "hook start failed", 1), None);
        assert_eq!(d.reason, "start failed: hook start failed");
        let d = decide(&container("exited", "", 7), None);
        assert!(d.remove);
        assert_eq!(d.reason, "rejected: start hook exited 7");
    }

    #[test]
    fn installed_running_and_fresh_containers_stay() {
        for (status, reason) in [
            ("exited", "installed"),
            ("running", "running"),
            ("created", "created, not started yet (may be mid-install)"),
            ("restarting", "restarting"),
            ("paused", "paused"),
            ("removing", "removing"),
        ] {
            let d = decide(&container(status, "", 0), None);
            assert!(!d.remove, "{status} must stay");
            assert_eq!(d.reason, reason);
        }
        // Without --stale-os, claims are not even looked at.
        let d = decide(&container("exited", "", 0), Some(&[]));
        assert!(!d.remove);
    }

    #[test]
    fn a_failing_claim_makes_any_container_stale() {
        let fails = [claim(Verdict::Fails, "5.15.0 is not the running 6.1.0")];
        for status in ["exited", "running", "created"] {
            let d = decide(&container(status, "", 0), Some(&fails));
            assert!(d.remove && d.stale, "{status}");
            assert_eq!(d.reason, "stale: 5.15.0 is not the running 6.1.0");
        }
        let two = [
            claim(Verdict::Fails, "a"),
            claim(Verdict::Holds, "b"),
            claim(Verdict::Fails, "c"),
        ];
        assert_eq!(
            decide(&container("exited", "", 0), Some(&two)).reason,
            "stale: a; c"
        );
    }

    #[test]
    fn doubt_keeps_and_is_reported() {
        let doubt = [claim(Verdict::Doubt, "os-release cannot be read")];
        let d = decide(&container("exited", "", 0), Some(&doubt));
        assert!(!d.remove && !d.stale);
        assert_eq!(d.doubts, ["os-release cannot be read"]);
        // A claim that plainly fails still decides; the doubt is reported.
        let mixed = [claim(Verdict::Doubt, "x"), claim(Verdict::Fails, "y")];
        let d = decide(&container("exited", "", 0), Some(&mixed));
        assert!(d.remove && d.stale);
        assert_eq!(d.doubts, ["x"]);
    }

    #[test]
    fn a_stale_zombie_goes_as_a_zombie_without_deactivate() {
        let fails = [claim(Verdict::Fails, "old")];
        let d = decide(&container("exited", "", 7), Some(&fails));
        assert!(d.remove && !d.stale);
        assert_eq!(d.reason, "rejected: start hook exited 7");
    }

    #[test]
    fn only_overlay_labelled_containers_are_extensions() {
        let mut c = container("dead", "", 0);
        assert!(is_extension(&c));
        c.labels
            .insert(labels::CLASS.to_string(), "other".to_string());
        assert!(!is_extension(&c));
        c.labels.clear();
        assert!(!is_extension(&c));
    }

    #[test]
    fn images_used_by_any_remaining_container_stay() {
        let img = |id: &str| Image {
            id: id.to_string(),
            tags: Vec::new(),
        };
        let images = [img("sha256:a"), img("sha256:b"), img("sha256:c")];
        // b: a kept extension; c: a non-extension container.
        let in_use = ["sha256:b".to_string(), "sha256:c".to_string()];
        let (remove, keep) = unused_images(&images, &in_use);
        let ids = |v: &[&Image]| v.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&remove), ["sha256:a"]);
        assert_eq!(ids(&keep), ["sha256:b", "sha256:c"]);
    }

    #[test]
    fn a_dry_run_and_a_real_run_see_the_same_remaining_images() {
        let s = |id: &str, image: &str| Summary {
            id: id.to_string(),
            image_id: image.to_string(),
            state: "exited".to_string(),
        };
        let removed = ["z1".to_string(), "z2".to_string()];
        // Before removal (a dry run lists them still) and after.
        let before = [
            s("z1", "sha256:a"),
            s("k1", "sha256:b"),
            s("z2", "sha256:b"),
            s("user", "sha256:c"),
        ];
        let after = [s("k1", "sha256:b"), s("user", "sha256:c")];
        let dry = remaining_image_ids(&before, &removed);
        let real = remaining_image_ids(&after, &removed);
        assert_eq!(dry, real);
        assert_eq!(dry, ["sha256:b", "sha256:c"]);
    }

    #[test]
    fn only_volumes_of_removed_containers_are_candidates() {
        let mut a = container("dead", "", 0);
        a.mounts = vec![
            mount("volume", "boot-a"),
            mount("bind", "ignored"),
            mount("volume", ""),
        ];
        let mut b = container("dead", "", 0);
        b.mounts = vec![mount("volume", "boot-a"), mount("volume", "data-b")];
        let cands = volume_candidates([&a, &b].into_iter());
        assert_eq!(cands, ["boot-a", "data-b"]);
        // "mine" is the user's own dangling volume: never removed.
        let dangling = ["mine".to_string(), "data-b".to_string()];
        assert_eq!(volumes_to_remove(&cands, &dangling), ["data-b"]);
    }

    #[test]
    fn a_dry_run_predicts_the_volumes_a_real_run_removes() {
        let anon = "a".repeat(64);
        let cands = vec![anon.clone(), "named".to_string(), "shared".to_string()];
        let kept = ["shared".to_string()];
        assert_eq!(volumes_as_if_removed(&cands, &kept, &[]), ["named"]);
        // One that is already dangling (an earlier run left it) is listed.
        assert_eq!(
            volumes_as_if_removed(&cands, &kept, std::slice::from_ref(&anon)),
            [anon.as_str(), "named"]
        );
        assert!(is_anonymous(&anon));
        assert!(!is_anonymous("named"));
        assert!(!is_anonymous(&"A".repeat(64)));
    }

    #[test]
    fn short_ids_are_twelve_characters() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
