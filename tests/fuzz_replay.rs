//! The fuzz targets without libFuzzer: each target runs over its committed
//! seed corpus (`fuzz/corpus/<target>/`) and over inputs mutated from it by
//! a seeded generator. Part of `cargo test`, so a fresh clone checks the
//! targets with no nightly flags and no cargo-fuzz; `make fuzz` runs the
//! real, coverage-guided fuzzer.
//!
//! `FUZZ_REPLAY_RUNS=N` sets the generated inputs per target;
//! `RELIABILITY_SEED=N` replays a run.

mod common;
#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;
use std::time::Instant;

use common::Rng;

/// Pieces the runtime's parsers care about, spliced into inputs.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\u0000",
    b"\\n",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"\"ociVersion\"",
    b"\"root\"",
    b"\"path\"",
    b"\"annotations\"",
    b"\"mounts\"",
    b"\"status\"",
    b"\"pid\"",
    b"\"labels\"",
    b"io.balena.image.",
    b"class",
    b"overlay",
    b"..",
    b"/",
    b"=",
    b"\n",
    b"\0",
    b"RTMIN+",
    b"RTMAX-",
    b"SIG",
    b"2147483647",
    b"-2147483648",
    b"--root",
    b"--log",
    b"--bundle",
    b"-b",
    b"create",
    b"kill",
    b"delete",
    b"--force",
    b"=",
    b"\xff",
    b"\xc3\xa9",
    b"\r\n",
    b"\r\n\r\n",
    b"HTTP/1.1 ",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"0\r\n\r\n",
    b";ext=1",
    b"ffffffff",
    b"\"Id\"",
    b"\"State\"",
    b"\"Labels\"",
    b"\"Mounts\"",
    b"\"RepoTags\"",
    b"\"Volumes\"",
    b"\"message\"",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = if seeds.is_empty() {
        Vec::new()
    } else {
        seeds[rng.below_usize(seeds.len())].clone()
    };
    for _ in 0..1 + rng.below_usize(6) {
        let at = rng.below_usize(data.len() + 1);
        match rng.below_usize(6) {
            0 if !data.is_empty() => {
                let i = rng.below_usize(data.len());
                data[i] ^= 1 << rng.below_usize(8);
            }
            1 if !data.is_empty() => {
                let end = (at + rng.below_usize(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.below_usize(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            3 if !seeds.is_empty() => {
                let other = &seeds[rng.below_usize(seeds.len())];
                let from = rng.below_usize(other.len() + 1);
                let to = (from + rng.below_usize(64)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
            4 => data.truncate(at),
            _ => {
                let b = rng.next() as u8;
                data.insert(at, b);
            }
        }
    }
    data
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn run_one(target: &str, f: targets::Target, input: &[u8]) {
    let ok = std::panic::catch_unwind(|| f(input)).is_ok();
    assert!(
        ok,
        "fuzz target {target} panicked on {:?} (add it to fuzz/corpus/{target}/ once fixed)",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations_of_it() {
    let runs: usize = std::env::var("FUZZ_REPLAY_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let mut rng = Rng::from_env("fuzz replay");
    for &(target, f) in targets::TARGETS {
        let started = Instant::now();
        let corpus = seeds(target);
        assert!(!corpus.is_empty(), "no seeds for {target}");
        for input in &corpus {
            run_one(target, f, input);
        }
        for _ in 0..runs {
            let input = mutate(&mut rng, &corpus);
            run_one(target, f, &input);
        }
        eprintln!(
            "fuzz replay: {target}: {} seeds + {runs} generated inputs, {:.1} s",
            corpus.len(),
            started.elapsed().as_secs_f64()
        );
    }
}
