//! Peak resident memory while processing one Markdown document of a given size (in MiB):
//! `cargo run --release -p process --example peak_memory -- 10`. Linux only (reads
//! /proc/self/status). Figures go in bench/RESULTS.md.

use std::time::Instant;

use process::{corpus, split, Settings};
use seams_embeddings::hashing::HashingEmbedder;

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let tokenizer = process::Tokenizer;
    let embedder = HashingEmbedder::default();
    let baseline = kib("VmHWM:");
    let document = corpus::markdown(mib * 1024 * 1024);
    let started = Instant::now();
    let settings = Settings { max_chunks: usize::MAX, ..Settings::default() };
    let split = split("text/markdown", document.as_bytes(), &settings, &tokenizer).expect("the corpus splits");
    // The service holds every vector until the record is written: so does this.
    let vectors: Vec<Vec<f32>> = split.chunks.iter().filter_map(|c| embedder.vector(&c.text)).collect();
    println!(
        "{mib} MiB markdown: {} chunks, {} vectors, {:.2} s, peak RSS {} MiB (before the document: {} MiB)",
        split.chunks.len(),
        vectors.len(),
        started.elapsed().as_secs_f64(),
        kib("VmHWM:") / 1024,
        baseline / 1024
    );
}
