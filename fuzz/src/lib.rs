//! What each fuzz target feeds and checks: one function per boundary seams has with the
//! outside world. The cargo-fuzz binaries in `fuzz/libfuzzer` call these with the fuzzer's
//! inputs (`scripts/fuzz.sh`), and `tests/replay.rs` replays the committed seeds and every
//! input that once failed, so a fixed crash stays fixed.
//!
//! A target fails by panicking: on a panic from seams itself, or on a broken invariant
//! (a 500 answer, an internal path in a problem, SQL built from a caller's text).

pub mod asl;
pub mod filter;
pub mod pipeline;
pub mod templates;
pub mod text;

use std::sync::OnceLock;

/// A target: one fuzzer input in, a panic when seams misbehaves on it.
pub type Target = fn(&[u8]);

/// Every target by the name its cargo-fuzz binary, seed folder and regression folder carry.
pub const TARGETS: [(&str, Target); 14] = [
    ("http_routes", pipeline::http_routes),
    ("event_ingest", pipeline::event_ingest),
    ("event_process", pipeline::event_process),
    ("event_retrieve", pipeline::event_retrieve),
    ("event_indexer", pipeline::event_indexer),
    ("event_infer", pipeline::event_infer),
    ("event_output", pipeline::event_output),
    ("event_answer", pipeline::event_answer),
    ("event_gateway", pipeline::event_gateway),
    ("filter", filter::compile_and_translate),
    ("extract", text::extract),
    ("chunk", text::chunk),
    ("templates", templates::render),
    ("asl", asl::run),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(known, _)| *known == name).map(|(_, target)| *target)
}

/// Runs target `name` on one input (the cargo-fuzz binaries' body). An unknown name is a
/// mistake in the binary, not in the input.
pub fn run(name: &str, data: &[u8]) {
    match target(name) {
        Some(target) => target(data),
        None => panic!("no fuzz target {name}"),
    }
}

/// The runtime the async targets block on, built once per process. A harness that cannot
/// start is not an input's fault: it stops the run loudly.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    // Multi-threaded (one worker), since handlers may block in place.
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a tokio runtime")
    })
}
