//! Extract + clean + chunk + hashing-embed throughput per format, one core (the pipeline is
//! sequential per document). `cargo bench -p process --bench pipeline`; figures go in
//! bench/RESULTS.md.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use process::corpus;
use process::{split, Settings};
use seams_embeddings::hashing::HashingEmbedder;

const SIZE: usize = 2 * 1024 * 1024;

fn pipeline(c: &mut Criterion) {
    let tokenizer = process::Tokenizer;
    let embedder = HashingEmbedder::default();
    let settings = Settings::default();
    let mut group = c.benchmark_group("extract+clean+chunk+embed");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (content_type, document) in [
        ("text/markdown", corpus::markdown(SIZE)),
        ("text/html", corpus::html(SIZE)),
        ("text/plain", corpus::plain(SIZE)),
    ] {
        group.throughput(Throughput::Bytes(document.len() as u64));
        group.bench_function(content_type, |b| {
            b.iter(|| {
                let split = split(content_type, document.as_bytes(), &settings, &tokenizer).expect("the corpus splits");
                split.chunks.iter().filter_map(|chunk| embedder.vector(&chunk.text)).count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
