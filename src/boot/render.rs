//! A plan for people (the console lines, one per decision) and for
//! programs (`--plan --json`).

use std::path::{Path, PathBuf};

use super::plan::{short_id, Plan};
use crate::json::{array, quote, Obj};

/// Every console line starts with this.
pub const PREFIX: &str = "extension-mount: ";

/// One line per decision, in mount order, then the skips.
pub fn lines(plan: &Plan) -> Vec<String> {
    let mut out = vec![format!(
        "hostapp {}: {} layers",
        short_id(&plan.hostapp_id),
        plan.hostapp_layers.len()
    )];
    if let Some((_, why)) = &plan.disabled {
        out.push(format!("extensions disabled: {why}"));
    }
    for e in &plan.extensions {
        let mut l = format!(
            "overlay {} ({}): {} layers",
            e.name,
            short_id(&e.id),
            e.layers.len()
        );
        if let Some(n) = e.priority {
            l += &format!(", override {n}");
        }
        out.push(l);
    }
    for s in &plan.skipped {
        // A record that cannot be read has no name.
        let name = if s.name.is_empty() { "?" } else { &s.name };
        out.push(format!("skip {name} ({}): {}", short_id(&s.id), s.reason));
    }
    out
}

/// The summary line after a mount.
pub fn mounted(plan: &Plan, target: &Path) -> String {
    format!(
        "mounted {} extensions over the hostapp at {} ({} layers)",
        plan.extensions.len(),
        target.display(),
        plan.lowerdir().len()
    )
}

/// The plan as text: its lines, then the layers, each one safe line
/// (`text::line`): names come from the disk's records.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for l in lines(plan) {
        out += &crate::text::line(&l);
        out.push('\n');
    }
    out += &format!("lowerdir ({}, top first):\n", plan.method.name());
    for l in plan.lowerdir() {
        out += &format!("  {}\n", crate::text::line(&l.to_string_lossy()));
    }
    out
}

fn paths<'a>(v: impl Iterator<Item = &'a Path>) -> String {
    array(v.map(|p| quote(&p.to_string_lossy())))
}

fn layers(v: &[PathBuf]) -> String {
    paths(v.iter().map(PathBuf::as_path))
}

pub fn json(plan: &Plan) -> String {
    let hostapp = Obj::default()
        .str("id", &plan.hostapp_id)
        .raw("layers", &layers(&plan.hostapp_layers))
        .end();
    let extensions = array(plan.extensions.iter().map(|e| {
        Obj::default()
            .str("id", &e.id)
            .str("name", &e.name)
            .str("image", &e.image)
            .int("override", e.priority.map(i64::from))
            .bool("legacyLabel", e.legacy)
            .raw("layers", &layers(&e.layers))
            .end()
    }));
    let skipped = array(plan.skipped.iter().map(|s| {
        Obj::default()
            .str("id", &s.id)
            .str("name", &s.name)
            .str("reason", &s.reason)
            .end()
    }));
    Obj::default()
        .raw("hostapp", &hostapp)
        .bool("extensionsEnabled", plan.disabled.is_none())
        .opt("disabledBy", plan.disabled.as_ref().map(|d| d.0))
        .raw("extensions", &extensions)
        .raw("skipped", &skipped)
        .raw("lowerdir", &paths(plan.lowerdir().into_iter()))
        .str("method", plan.method.name())
        .uint("pageSize", crate::sys::page_size() as u64)
        .end()
}
