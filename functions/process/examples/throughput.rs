//! Process's throughput on one core, for bench/run.sh: chunking alone (to compare with
//! LangChain's RecursiveCharacterTextSplitter on the same text and chunk size) and the
//! whole pipeline (extract + clean + chunk + hashing embed).
//!
//! `cargo run --release -p process --example throughput -- <corpus.md> [repeats]` writes the
//! corpus there (so the other splitter reads the same bytes) and prints one JSON line.

use std::time::Instant;

use process::chunk::chunk;
use process::{corpus, split, Settings};
use seams_embeddings::hashing::HashingEmbedder;

const SIZE: usize = 4 * 1024 * 1024;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let path = arguments.next().unwrap_or_else(|| "bench/out/corpus.md".into());
    let repeats: usize = arguments.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let document = corpus::markdown(SIZE);
    if let Err(e) = std::fs::write(&path, &document) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
    let tokenizer = process::Tokenizer;
    let embedder = HashingEmbedder::default();
    let settings = Settings { max_chunks: usize::MAX, ..Settings::default() };
    let mib = document.len() as f64 / (1024.0 * 1024.0);

    let mut chunking = Vec::new();
    let mut pipeline = Vec::new();
    let mut chunks = 0;
    for _ in 0..repeats {
        let started = Instant::now();
        chunks = chunk(&document, settings.chunking, &tokenizer).len();
        chunking.push(mib / started.elapsed().as_secs_f64());

        let started = Instant::now();
        let split = split("text/markdown", document.as_bytes(), &settings, &tokenizer).expect("the corpus splits");
        let vectors = split.chunks.iter().filter_map(|c| embedder.vector(&c.text)).count();
        assert_eq!(vectors, split.chunks.len());
        pipeline.push(mib / started.elapsed().as_secs_f64());
    }
    println!(
        "{{\"mib\": {mib:.2}, \"chunks\": {chunks}, \"max_tokens\": {}, \"chunk_mib_s\": {:.3}, \"chunk_runs\": {:?}, \"pipeline_mib_s\": {:.3}, \"pipeline_runs\": {:?}}}",
        settings.chunking.max_tokens,
        median(chunking.clone()),
        chunking.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        median(pipeline.clone()),
        pipeline.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
    );
}
