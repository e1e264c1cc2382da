//! What an indexer write uploads into a large embedded index: segments (now) beside the
//! whole file the snapshot design uploaded after every write (before). Not a test: figures
//! go to bench/RESULTS.md.
//!
//! ```text
//! cargo run --release -p retrieve --example segment_upload -- 100000 150
//! ```
//! Builds the synthetic corpus of `search_latency` (N chunks, documents of 100 chunks) into
//! a SQLite file, stores it as the index's base in a directory store, then writes W more
//! 100-chunk documents through the segmented index, counting the bytes each write puts
//! (segment, manifest, merges and any compaction) and the file the snapshot would upload.

#[path = "support/corpus.rs"]
mod corpus;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use retrieve::manifest::{Manifest, LEGACY_SNAPSHOT_KEY, MANIFEST_KEY};
use retrieve::segments::SegmentedIndex;
use retrieve::sqlite::SqliteIndex;
use retrieve::SearchIndex;
use seams_embeddings::hashing::HashingEmbedder;
use seams_embeddings::Embedder;
use seams_platform::object_store::{ObjectStore, PutOptions};
use seams_tests::recording_store::RecordingStore;

use crate::corpus::{corpus, CHUNKS_PER_DOCUMENT};

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn percentile<T: Copy + Ord>(values: &[T], p: f64) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let chunks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let writes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(150);
    let embedder = HashingEmbedder::default();
    let mut documents = corpus(chunks + writes * CHUNKS_PER_DOCUMENT, &embedder);
    let new_documents = documents.split_off(chunks.div_ceil(CHUNKS_PER_DOCUMENT));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let base = SqliteIndex::open(&dir.path().join("base.sqlite"), embedder.model().clone()).expect("sqlite opens");
    for document in &documents {
        base.upsert(document).await.expect("the base is written");
    }
    let body = base.read_file().expect("the base is read");
    println!("base: {chunks} chunks, {:.1} MiB", mib(body.len() as u64));
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    store.put(LEGACY_SNAPSHOT_KEY, Bytes::from(body), PutOptions::default()).await.expect("the base is stored");

    let index =
        SegmentedIndex::open(store.clone(), dir.path().join("indexer"), embedder.model().clone(), Duration::ZERO)
            .await
            .expect("the segmented index opens");
    let (mut uploaded, mut snapshot, mut times) = (Vec::new(), Vec::new(), Vec::new());
    let mut compactions = Vec::new();
    for (i, document) in new_documents.iter().enumerate() {
        let before = store.puts().len();
        let started = Instant::now();
        index.upsert(document).await.expect("the write is committed");
        times.push(started.elapsed());
        let puts = store.puts().split_off(before);
        uploaded.push(puts.iter().map(|(_, size)| *size as u64).sum::<u64>());
        if puts.iter().any(|(key, _)| key.starts_with("index/bases/")) {
            compactions.push(i + 1);
        }
        // The snapshot design uploaded the whole file after each write: this one's size.
        let file = dir.path().join("indexer");
        let size = std::fs::read_dir(&file)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.metadata().ok().map(|m| m.len()))
            .max()
            .unwrap_or_default();
        snapshot.push(size);
    }
    let steady: Vec<u64> =
        uploaded.iter().enumerate().filter(|(i, _)| !compactions.contains(&(i + 1))).map(|(_, b)| *b).collect();
    let manifest: Manifest =
        serde_json::from_slice(&store.get(MANIFEST_KEY).await.expect("a manifest").body).expect("a manifest");
    println!("{writes} writes of {CHUNKS_PER_DOCUMENT} chunks each into {chunks} chunks:");
    println!(
        "  segments: per write p50 {:.2} MiB, p90 {:.2} MiB, max without compaction {:.2} MiB",
        mib(percentile(&uploaded, 0.5)),
        mib(percentile(&uploaded, 0.9)),
        mib(steady.iter().copied().max().unwrap_or_default()),
    );
    println!(
        "  compactions at writes {compactions:?}, each {:?} MiB",
        compactions.iter().map(|w| format!("{:.1}", mib(uploaded[w - 1]))).collect::<Vec<_>>()
    );
    let total: u64 = uploaded.iter().sum();
    println!("  total {:.1} MiB, {:.2} MiB per write on average", mib(total), mib(total / writes as u64));
    println!(
        "  snapshot (the whole file after each write): p50 {:.1} MiB, total {:.1} MiB",
        mib(percentile(&snapshot, 0.5)),
        mib(snapshot.iter().sum())
    );
    println!(
        "  write time p50 {:.1} ms, max {:.1} ms; manifest now: {} segments, base through {}",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 1.0).as_secs_f64() * 1e3,
        manifest.segments.len(),
        manifest.base_through()
    );
}
