//! The segmented embedded index over a directory store: a failed put anywhere (a segment,
//! the manifest, a merge, a compaction) leaves the index readable and complete after the
//! retry; a write uploads what it wrote, not the index; a small write rides in the manifest;
//! readers fetch only what they lack; an index stored before segments is read as the base;
//! and any writes by two writers, one put failing anywhere, read back as the live documents.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use retrieve::manifest::{LogPolicy, Manifest, LEGACY_SNAPSHOT_KEY, MANIFEST_KEY};
use retrieve::segments::SegmentedIndex;
use retrieve::sqlite::SqliteIndex;
use retrieve::SearchIndex;
use seams_contracts::retrieve::SearchMode;
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_tests::recording_store::{PutFault, RecordingStore};
use serde_json::json;
use support::{at, document, ids, query};

/// Merges every two segments and compacts once the log reaches a sixteenth of the base, so
/// a few writes go through every step; a tombstone rides in the manifest, a document does not.
const EAGER: LogPolicy = LogPolicy {
    merge_fanout: 2,
    compact_ratio: 16,
    compact_min_log_bytes: 1,
    inline_max_bytes: 1 << 10,
    small_index_bytes: 0,
};

/// As a big index writes documents too big to ride in the manifest: each write an object, and
/// segments merge rather than fold.
const STORED: LogPolicy = LogPolicy { inline_max_bytes: 0, small_index_bytes: 0, ..LogPolicy::DEFAULT };

/// A segment holding one write (`index/segments/<first>-<last>-<nonce>.jsonl`).
fn single(key: &str) -> bool {
    key.starts_with("index/segments/") && key[15..27] == key[28..40]
}

/// A refresh interval no test outlasts: writes start from the manifest their instance knows.
const LONG_REFRESH: Duration = Duration::from_secs(600);

async fn open(store: Arc<dyn ObjectStore>, scratch: &std::path::Path, policy: LogPolicy) -> SegmentedIndex {
    SegmentedIndex::open(store, scratch.to_owned(), support::model(), Duration::ZERO).await.unwrap().with_policy(policy)
}

fn doc(i: usize) -> retrieve::index::IndexedDocument {
    document(&format!("d{i}"), 1, at(i as i64), &[&format!("ledger memo number {i}")], json!({}))
}

/// Six upserts and a delete, each retried on a fresh instance (as a redelivered message
/// would be) until it succeeds; the number of puts made. Each write starts from the manifest
/// its instance read when it opened, as within Lambda's refresh interval.
async fn write_all(store: Arc<RecordingStore>, scratch: &std::path::Path) -> usize {
    for i in 0..7 {
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts <= 2, "write {i} failed twice");
            let index =
                match SegmentedIndex::open(store.clone(), scratch.to_owned(), support::model(), LONG_REFRESH).await {
                    Ok(index) => index.with_policy(EAGER),
                    Err(_) => continue,
                };
            let result = match i {
                6 => index.delete("d2", at(100)).await,
                i => index.upsert(&doc(i)).await.map(drop),
            };
            if result.is_ok() {
                break;
            }
        }
    }
    store.attempts()
}

async fn stored_documents(store: Arc<dyn ObjectStore>, scratch: &std::path::Path) -> Vec<String> {
    let reader = open(store, scratch, LogPolicy::default()).await;
    let mut found = ids(&reader, &query("ledger memo", SearchMode::Hybrid, 50, None)).await;
    found.sort();
    found
}

#[tokio::test]
async fn a_failed_put_anywhere_leaves_the_index_readable_and_complete_after_the_retry() {
    let expected = ["d0", "d1", "d3", "d4", "d5"];
    let dir = tempfile::tempdir().unwrap();
    let clean = Arc::new(RecordingStore::new(&dir.path().join("clean"), None));
    let puts = write_all(clean.clone(), &dir.path().join("scratch")).await;
    // The run without faults went through merges and a compaction, so failing each of its
    // puts in turn fails each step.
    let keys: Vec<String> = clean.puts().into_iter().map(|(key, _)| key).collect();
    assert!(keys.iter().any(|k| k.starts_with("index/bases/")), "{keys:?}");
    let merged = |k: &String| k.starts_with("index/segments/") && !single(k);
    assert!(keys.iter().any(merged), "{keys:?}");
    // Six documents stored as objects; the tombstone rode in the manifest.
    assert_eq!(keys.iter().filter(|k| single(k)).count(), 6, "{keys:?}");
    assert_eq!(stored_documents(clean, &dir.path().join("scratch")).await, expected);

    for n in 1..=puts {
        for stored in [false, true] {
            let case = dir.path().join(format!("{n}-{stored}"));
            let store = Arc::new(RecordingStore::new(&case.join("bucket"), Some(PutFault { at: n, stored })));
            write_all(store.clone(), &case.join("scratch")).await;
            let found = stored_documents(store, &case.join("scratch")).await;
            assert_eq!(found, expected, "put {n} failing, stored first: {stored}");
        }
    }
}

#[tokio::test]
async fn a_write_uploads_what_it_wrote_not_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    let index = open(store.clone(), &dir.path().join("scratch"), STORED).await;
    let mut uploaded = Vec::new();
    for i in 0..43 {
        let before = store.puts().len();
        index.upsert(&doc(i)).await.unwrap();
        uploaded.push(store.puts()[before..].iter().map(|(_, size)| size).sum::<usize>());
    }
    // The 43rd write (no merge due) uploads its segment and the manifest, as the first did;
    // the whole index would be over forty times the first.
    assert!(uploaded[42] < 2 * uploaded[0], "{uploaded:?}");
    assert!(store.puts().iter().all(|(key, _)| !key.starts_with("index/bases/")));
    // Merges: eight writes' segments became one, five times.
    let manifest: Manifest = serde_json::from_slice(&store.get(MANIFEST_KEY).await.unwrap().body).unwrap();
    let levels: Vec<u32> = manifest.segments.iter().map(|s| s.level).collect();
    assert_eq!(levels, [1, 1, 1, 1, 1, 0, 0, 0]);
}

#[tokio::test]
async fn a_reader_fetches_only_the_writes_it_lacks_and_catches_up_after_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    let writer = open(store.clone(), &dir.path().join("writer"), STORED).await;
    for i in 0..3 {
        writer.upsert(&doc(i)).await.unwrap();
    }
    let reader = open(store.clone(), &dir.path().join("reader"), LogPolicy::default()).await;
    writer.upsert(&doc(3)).await.unwrap();
    store.take_gets();
    assert_eq!(ids(&reader, &query("number 3", SearchMode::Keyword, 1, None)).await, ["d3"]);
    let gets = store.take_gets();
    assert_eq!(gets.len(), 2, "the manifest and the one new segment: {gets:?}");
    assert_eq!(gets[0], MANIFEST_KEY);

    // A compaction frees the segments the reader would read next; it loads the new base.
    let compacting = open(store.clone(), &dir.path().join("compacting"), EAGER).await;
    for i in 4..8 {
        compacting.upsert(&doc(i)).await.unwrap();
    }
    let manifest: Manifest = serde_json::from_slice(&store.get(MANIFEST_KEY).await.unwrap().body).unwrap();
    assert!(manifest.base.is_some_and(|base| base.through >= 5), "no compaction");
    let mut found = ids(&reader, &query("ledger memo", SearchMode::Keyword, 50, None)).await;
    found.sort();
    assert_eq!(found, ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"]);
}

#[tokio::test]
async fn an_index_stored_before_segments_is_read_as_the_base_then_compacted_away() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.sqlite");
    let legacy = SqliteIndex::open(&file, support::model()).unwrap();
    legacy.upsert(&document("old", 1, at(0), &["the archive of old ledgers"], json!({}))).await.unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    store.put(LEGACY_SNAPSHOT_KEY, Bytes::from(legacy.read_file().unwrap()), PutOptions::default()).await.unwrap();

    let compact_every_write = LogPolicy { compact_ratio: u64::MAX, ..EAGER };
    let index = open(store.clone(), &dir.path().join("scratch"), compact_every_write).await;
    assert_eq!(ids(&index, &query("archive", SearchMode::Keyword, 5, None)).await, ["old"]);
    index.upsert(&document("new", 1, at(1), &["the archive of new ledgers"], json!({}))).await.unwrap();
    let reader = open(store.clone(), &dir.path().join("reader"), LogPolicy::default()).await;
    let mut found = ids(&reader, &query("archive ledgers", SearchMode::Keyword, 5, None)).await;
    found.sort();
    assert_eq!(found, ["new", "old"]);
    // The first compaction replaced the old file with a base; nothing reads it any more.
    assert!(matches!(store.head(LEGACY_SNAPSHOT_KEY).await, Err(StoreError::NotFound { .. })));
}

/// The indexer's metrics say what each write uploaded, and count merges and compactions.
#[tokio::test]
async fn a_write_reports_what_it_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    let index = open(store.clone(), &dir.path().join("scratch"), EAGER).await;
    let (written, lines) =
        seams_platform::metrics::capture(seams_platform::metrics::scope("retrieve-indexer", index.upsert(&doc(0))))
            .await;
    written.unwrap();
    let put: usize = store.puts().iter().map(|(_, size)| size).sum();
    let document = &lines[0];
    let values = document["IndexBytesUploaded"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![document["IndexBytesUploaded"].clone()]);
    let reported: f64 = values.iter().filter_map(|v| v.as_f64()).sum();
    assert_eq!(reported as usize, put, "{document}");
    // The first write into an empty index is folded into a base at once under this policy.
    assert_eq!(document["IndexCompactions"], 1.0, "{document}");
}

/// A write within the refresh interval starts from the manifest its instance last read or
/// committed (the first write after a cold start, the next write of a batch) instead of
/// reading it again. Another writer's commit in between fails its conditional put; it then
/// catches up and writes, and nothing is lost.
#[tokio::test]
async fn a_write_starts_from_the_manifest_it_knows_and_catches_up_when_another_writer_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    let writer =
        SegmentedIndex::open(store.clone(), dir.path().join("writer"), support::model(), LONG_REFRESH).await.unwrap();
    store.take_gets();
    writer.upsert(&doc(0)).await.unwrap();
    writer.upsert(&doc(1)).await.unwrap();
    assert_eq!(store.take_gets(), Vec::<String>::new(), "a write read what its instance knew");

    let other = open(store.clone(), &dir.path().join("other"), LogPolicy::default()).await;
    other.upsert(&doc(2)).await.unwrap();
    store.take_gets();
    writer.upsert(&doc(3)).await.unwrap();
    let gets = store.take_gets();
    assert_eq!(gets.first().map(String::as_str), Some(MANIFEST_KEY), "the lost race is not caught up: {gets:?}");
    assert_eq!(stored_documents(store, &dir.path().join("reader")).await, ["d0", "d1", "d2", "d3"]);
}

/// A cold start after many writes fetches the log's segments side by side: on S3 each read
/// is a round trip of tens of milliseconds, and one after another they add up.
#[tokio::test]
async fn a_reader_fetches_the_segments_it_lacks_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let writer = open(Arc::new(RecordingStore::new(&bucket, None)), &dir.path().join("writer"), STORED).await;
    for i in 0..5 {
        writer.upsert(&doc(i)).await.unwrap();
    }
    let slow = Arc::new(RecordingStore::new(&bucket, None).with_get_latency(Duration::from_millis(20)));
    let reader = open(slow.clone(), &dir.path().join("reader"), LogPolicy::default()).await;
    let gets = slow.take_gets();
    assert_eq!(gets.iter().filter(|key| key.starts_with("index/segments/")).count(), 5, "{gets:?}");
    assert_eq!(slow.most_gets_in_flight(), 5, "{gets:?}");
    let mut found = ids(&reader, &query("ledger memo", SearchMode::Keyword, 50, None)).await;
    found.sort();
    assert_eq!(found, ["d0", "d1", "d2", "d3", "d4"]);
}

/// A small write (a tombstone, a one-chunk document) rides in the manifest: one put. A small
/// index folds its log into a new base where a bigger one would merge segments. A cold start
/// then reads two objects, the manifest and the base, however many writes came before.
#[tokio::test]
async fn small_writes_ride_in_the_manifest_and_a_small_index_starts_from_two_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), None));
    let writer = open(store.clone(), &dir.path().join("writer"), LogPolicy::default()).await;
    for i in 0..20 {
        let before = store.puts().len();
        writer.upsert(&doc(i)).await.unwrap();
        let keys: Vec<String> = store.puts()[before..].iter().map(|(key, _)| key.clone()).collect();
        match i % 8 {
            // The eighth write folds the log into a base.
            7 => assert!(keys.iter().any(|k| k.starts_with("index/bases/")), "write {i}: {keys:?}"),
            _ => assert_eq!(keys, [MANIFEST_KEY], "write {i}"),
        }
    }
    writer.delete("d3", at(100)).await.unwrap();

    store.take_gets();
    let reader = open(store.clone(), &dir.path().join("reader"), LogPolicy::default()).await;
    let gets = store.take_gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0], MANIFEST_KEY);
    assert!(gets[1].starts_with("index/bases/"), "{gets:?}");
    let found = ids(&reader, &query("ledger memo", SearchMode::Keyword, 50, None)).await;
    assert_eq!(found.len(), 19, "{found:?}");
    assert!(!found.contains(&"d3".to_string()), "{found:?}");
}

#[derive(Debug, Clone)]
enum Step {
    /// Document `doc` at a newer version (one chunk per text), written by writer `writer`.
    Upsert {
        writer: usize,
        doc: usize,
        texts: Vec<Vec<usize>>,
    },
    Delete {
        writer: usize,
        doc: usize,
    },
    /// The same search of the long-lived reader and of a fresh index of the live documents.
    Search {
        words: Vec<usize>,
        mode: SearchMode,
        top_k: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    use support::word;
    let mode = prop::sample::select(vec![SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid]);
    prop_oneof![
        3 => (0..2usize, 0..12usize, prop::collection::vec(prop::collection::vec(word(), 1..8), 1..4))
            .prop_map(|(writer, doc, texts)| Step::Upsert { writer, doc, texts }),
        1 => (0..2usize, 0..12usize).prop_map(|(writer, doc)| Step::Delete { writer, doc }),
        2 => (prop::collection::vec(word(), 1..4), mode, 1..40usize)
            .prop_map(|(words, mode, top_k)| Step::Search { words, mode, top_k }),
    ]
}

/// Runs the steps through two writers (each starting from the manifest it knows, as within
/// the refresh interval) over a store whose `fault` put fails once, retrying a failed write
/// on a fresh instance as a redelivered message would be; at every search, compares a reader
/// that followed every write with a fresh index of the documents that should be live.
async fn run_steps(policy: LogPolicy, fault: Option<PutFault>, steps: &[Step]) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RecordingStore::new(&dir.path().join("bucket"), fault));
    let scratch = dir.path().join("scratch");
    let writer = |n: usize| {
        let store = store.clone();
        let scratch = scratch.join(format!("writer{n}"));
        async move {
            SegmentedIndex::open(store, scratch, support::model(), LONG_REFRESH).await.map(|w| w.with_policy(policy))
        }
    };
    let mut writers = Vec::new();
    for n in 0..2 {
        writers.push(writer(n).await.unwrap());
    }
    let reader = open(store.clone(), &scratch.join("reader"), LogPolicy::default()).await;
    let mut live = std::collections::BTreeMap::new();
    for (clock, step) in (1..).zip(steps) {
        let (n, write) = match step {
            Step::Upsert { writer, doc, texts } => {
                let texts = support::texts(texts);
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                let document = document(&format!("d{doc}"), clock, at(i64::from(clock)), &texts, json!({}));
                live.insert(*doc, document.clone());
                (*writer, Ok(document))
            }
            Step::Delete { writer, doc } => {
                live.remove(doc);
                (*writer, Err(format!("d{doc}")))
            }
            Step::Search { words, mode, top_k } => {
                let text = support::text(words);
                let query = query(&text, *mode, *top_k, None);
                let fresh =
                    SqliteIndex::open_copy(&dir.path().join(format!("fresh{clock}.sqlite")), support::model()).unwrap();
                for document in live.values() {
                    fresh.upsert(document).await.unwrap();
                }
                let expected = fresh.search(&query).await.unwrap();
                assert_eq!(reader.search(&query).await.unwrap(), expected, "{query:?} after {steps:?}");
                continue;
            }
        };
        for attempt in 1..=2 {
            let written = match &write {
                Ok(document) => writers[n].upsert(document).await.map(drop),
                Err(id) => writers[n].delete(id, at(i64::from(clock))).await,
            };
            match written {
                Ok(()) => break,
                Err(error) => {
                    assert!(attempt == 1 && fault.is_some(), "write {clock} failed: {error}");
                    writers[n] = writer(n).await.unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any writes, by two writers, through merges, compactions and manifests that carry small
    /// writes, with one put failing anywhere: a reader that followed them finds what a fresh
    /// index of the live documents finds, in every mode.
    #[test]
    fn any_writes_read_back_as_a_fresh_index_of_the_live_documents(
        policy in prop::sample::select(vec![EAGER, STORED, LogPolicy::default()]),
        fault in prop::option::of((1..60usize, any::<bool>()).prop_map(|(at, stored)| PutFault { at, stored })),
        steps in prop::collection::vec(step(), 1..30),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_steps(policy, fault, &steps));
    }
}
