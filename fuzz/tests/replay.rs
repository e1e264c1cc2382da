//! Every committed seed and every input that once made a target fail, replayed through the
//! target in every test run: a crash the fuzzer found stays fixed. The fuzzer itself runs
//! outside the tests (`scripts/fuzz.sh`).

use std::fs;
use std::path::{Path, PathBuf};

use seams_fuzz::{target, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

/// The files in `fuzz/<folder>/<target>`, sorted; none when the folder does not exist.
fn inputs(folder: &str, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(fuzz_dir().join(folder).join(name)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn replay(name: &str) {
    let run = target(name).unwrap_or_else(|| panic!("no target {name}"));
    let seeds = inputs("seeds", name);
    assert!(!seeds.is_empty(), "target {name} has no seeds in fuzz/seeds/{name}");
    for file in seeds.iter().chain(&inputs("regressions", name)) {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        eprintln!("replaying {}", file.display());
        run(&data);
    }
}

macro_rules! replay_each {
    ($($name:ident),* $(,)?) => {
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
        $( #[test] fn $name() { replay(stringify!($name)) } )*
    };
}

replay_each!(
    http_routes,
    event_ingest,
    event_process,
    event_retrieve,
    event_indexer,
    event_infer,
    event_output,
    event_answer,
    event_gateway,
    filter,
    extract,
    chunk,
    templates,
    asl,
);

#[test]
fn every_target_is_replayed_and_has_a_fuzzer_binary() {
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, REPLAYED);
    for name in names {
        let binary = fuzz_dir().join("libfuzzer/fuzz_targets").join(format!("{name}.rs"));
        let source = fs::read_to_string(&binary).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        assert!(source.contains(&format!("\"{name}\"")), "{} does not run target {name}", binary.display());
    }
}
