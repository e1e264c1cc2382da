//! The embedded index against FTS5's own ranking and against a fresh load of its file.

use proptest::prelude::*;
use serde_json::{Map, Value};

use seams_contracts::retrieve::SearchMode;

use super::matrix::{empty_citation, query_terms, row_lengths};
use super::*;
use crate::filter::Predicate;

#[test]
fn user_words_never_become_fts_syntax() {
    assert_eq!(
        fts_query("refund* policy OR \"x\"").as_deref(),
        Some("\"refund\" OR \"policy\" OR \"x\""),
        "the user's OR is a stop word, its quotes and star are not syntax"
    );
    assert_eq!(fts_query("?! -"), None);
}

#[test]
fn vectors_survive_the_blob_round_trip() {
    let vector = [0.5f32, -1.25, 3.0];
    assert_eq!(from_blob(&to_blob(&vector)).collect::<Vec<_>>(), vector);
}

fn chunk(id: &str, text: &str, embedding: Vec<f32>, metadata: Map<String, Value>) -> IndexedChunk {
    IndexedChunk {
        chunk_id: id.into(),
        ordinal: 0,
        text: text.into(),
        citation: empty_citation(),
        metadata,
        embedding,
        parent: None,
    }
}

fn document(id: &str, version: u32, texts: &[String]) -> IndexedDocument {
    let mut metadata = Map::new();
    metadata.insert("shelf".into(), Value::from(id.len() % 3));
    IndexedDocument {
        document_id: id.into(),
        version,
        processed_at: chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + i64::from(version), 0).unwrap(),
        embedding: EmbeddingModel { model: "test".into(), dims: 4 },
        chunks: texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let seed = (id.len() * 31 + i * 7 + text.len()) as f32;
                chunk(&format!("{id}:{version}:{i}"), text, vec![seed.sin(), seed.cos(), 1.0, 0.5], metadata.clone())
            })
            .collect(),
    }
}

/// An empty index of 4-dimension vectors in a directory of its own, removed when the
/// directory is dropped.
fn test_index() -> (tempfile::TempDir, SqliteIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index =
        SqliteIndex::open(&dir.path().join("index.sqlite"), EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
    (dir, index)
}

/// A seeded xorshift: each call a number below the one given.
fn below(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    }
}

/// The postings' ranking is FTS5's: the same rows, order and scores for every query,
/// filtered or not, after replacements and deletions changed the statistics. Words that
/// stem alike, accents, digits and a word FTS5 splits in two are among them.
#[tokio::test]
async fn postings_rank_as_fts5_does() {
    let vocabulary = [
        "refund",
        "refunds",
        "refunding",
        "refunded",
        "policy",
        "policies",
        "shipping",
        "ships",
        "carrier",
        "carriers",
        "café",
        "cafe",
        "naïve",
        "Ünïcode",
        "2",
        "5",
        "wing",
        "wings",
        "lift",
        "drag",
        "हिन्दी",
    ];
    let mut next = below(11);
    let (_dir, index) = test_index();
    for d in 0..60 {
        let texts: Vec<String> = (0..1 + next(4))
            .map(|_| {
                (0..1 + next(12))
                    .map(|_| {
                        // Skewed towards the list's first words, as word use is.
                        let within = next(vocabulary.len()) + 1;
                        vocabulary[next(within)]
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        index.upsert(&document(&format!("d{d}"), 1, &texts)).await.unwrap();
    }
    for d in (0..60).step_by(7) {
        index.upsert(&document(&format!("d{d}"), 2, &["refund policy".to_owned()])).await.unwrap();
    }
    for d in (3..60).step_by(11) {
        index.delete(&format!("d{d}"), Utc::now()).await.unwrap();
    }
    let shelf =
        Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters").unwrap();
    let connection = index.lock_writer().unwrap();
    let mut matrix = load_matrix(&connection, 4).unwrap();
    let mut compared = 0;
    for text in [
        "refund",
        "refunds policy",
        "cafe naïve",
        "Ünïcode 2 5",
        "wings lift drag carrier",
        "ships",
        "हिन्दी wing",
        "absent",
    ] {
        for (limit, filter) in [(3, None), (10, None), (50, None), (10, Some(shelf.clone()))] {
            let query = SearchQuery {
                text: text.into(),
                vector: None,
                mode: SearchMode::Keyword,
                top_k: limit,
                filter,
                fusion: crate::fuse::Fusion::default(),
            };
            let terms = keyword_terms(&connection, &query).unwrap();
            matrix.load_terms(&connection, terms.as_deref().unwrap_or_default()).unwrap();
            let found = matrix.keyword_ranking(&connection, &query, terms.as_deref(), limit).unwrap();
            let expected = matrix.fts5_keyword_ranking(&connection, &query, limit).unwrap();
            let rows = |ranking: &[(usize, f64)]| ranking.iter().map(|r| r.0).collect::<Vec<_>>();
            assert_eq!(rows(&found), rows(&expected), "{text:?} top {limit}");
            for (a, b) in found.iter().zip(&expected) {
                assert!((a.1 - b.1).abs() <= 1e-9 * b.1.abs().max(1.0), "{text:?}: {} vs {}", a.1, b.1);
            }
            compared += expected.len();
        }
    }
    assert!(compared > 200, "the queries found too little to compare: {compared}");
    let words = keywords::query_words("हिन्दी refunds");
    assert_eq!(query_terms(&connection, &words).unwrap(), None, "a word FTS5 splits is a phrase");
    let words = keywords::query_words("Refunds CAFÉ");
    assert_eq!(query_terms(&connection, &words).unwrap(), Some(vec!["refund".to_owned(), "cafe".to_owned()]));
}

/// Row lengths come from FTS5's docsize table, as `bm25()` reads them: FTS5's token
/// counts, at lengths written in one, two and three bytes.
#[tokio::test]
async fn row_lengths_are_fts5s_token_counts() {
    let (_dir, index) = test_index();
    let lengths = [1, 127, 128, 300, 20_000];
    let texts: Vec<String> =
        lengths.iter().map(|&n| (0..n).map(|i| format!("w{}", i % 50)).collect::<Vec<_>>().join(" ")).collect();
    index.upsert(&document("d", 1, &texts)).await.unwrap();
    let connection = index.lock_writer().unwrap();
    let mut statement = connection.prepare("SELECT id FROM chunks ORDER BY id").unwrap();
    let mut ids: Vec<i64> = statement.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(row_lengths(&connection, &ids).unwrap(), lengths);
    ids.insert(0, 0);
    ids.push(1_000_000);
    assert_eq!(row_lengths(&connection, &ids).unwrap(), [0, 1, 127, 128, 300, 20_000, 0], "rows FTS5 lacks are empty");
}

/// Small writes after a search are followed in memory, not loaded again, and the index
/// then answers exactly as one that loads the file: the same chunks, order, scores, ranks
/// and metadata in every mode, filtered or not, though the statistics moved (words that
/// stem alike, accents and a stop word included), for words whose postings it took in
/// before the writes, after them, and one no row held when first searched for. A write too
/// big to follow drops what it held.
#[tokio::test]
async fn small_writes_are_followed_in_memory_and_answer_as_a_fresh_load() {
    let words = ["refund", "the", "refunds", "policy", "café", "naïve", "2", "wing", "lift", "drag", "carrier"];
    let mut next = below(5);
    let mut document = |id: usize, version: u32| {
        let mut metadata = Map::new();
        metadata.insert("shelf".into(), Value::from(next(3)));
        IndexedDocument {
            document_id: format!("d{id}"),
            version,
            processed_at: chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + i64::from(version), 0).unwrap(),
            embedding: EmbeddingModel { model: "test".into(), dims: 4 },
            chunks: (0..1 + next(3))
                .map(|i| {
                    let length = 1 + next(15);
                    let text: Vec<&str> = (0..length)
                        .map(|_| {
                            // Skewed towards the list's first words, as word use is.
                            let within = next(words.len()) + 1;
                            words[next(within)]
                        })
                        .collect();
                    let vector = (0..4).map(|_| next(2001) as f32 / 1000.0 - 1.0).collect();
                    chunk(&format!("d{id}:{version}:{i}"), &text.join(" "), vector, metadata.clone())
                })
                .collect(),
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite");
    let index = SqliteIndex::open(&path, EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
    for d in 0..200 {
        index.upsert(&document(d, 1)).await.unwrap();
    }
    let query = |text: &str, mode, filter: Option<Predicate>| SearchQuery {
        text: text.into(),
        vector: Some(vec![0.3, -0.4, 0.8, 0.1]),
        mode,
        top_k: 20,
        filter,
        fusion: crate::fuse::Fusion::default(),
    };
    assert!(!index.search(&query("refund", SearchMode::Hybrid, None)).await.unwrap().is_empty());
    assert!(index.search(&query("zephyr", SearchMode::Keyword, None)).await.unwrap().is_empty());
    assert!(index.holds_matrix());
    for d in (0..200).step_by(20) {
        index.upsert(&document(d, 2)).await.unwrap();
    }
    for d in 200..205 {
        index.upsert(&document(d, 1)).await.unwrap();
    }
    // A word searched for before any row held it.
    let mut zephyr = document(205, 1);
    zephyr.chunks[0].text = "zephyr refund".into();
    index.upsert(&zephyr).await.unwrap();
    for d in (5..200).step_by(25) {
        index.delete(&format!("d{d}"), Utc::now()).await.unwrap();
    }
    assert!(index.holds_matrix(), "these writes are small beside 200 documents: followed in memory");
    let shelf =
        Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters").unwrap();
    let compare = |index: &SqliteIndex, loaded: &SqliteIndex| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut compared = 0;
        for text in ["refund", "refunds policy", "cafe naïve 2", "wing lift drag carrier", "zephyr", "absent"] {
            for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
                for filter in [None, Some(shelf.clone())] {
                    let query = query(text, mode, filter);
                    let hits = runtime.block_on(index.search(&query)).unwrap();
                    let expected = runtime.block_on(loaded.search(&query)).unwrap();
                    assert_eq!(hits, expected, "{text:?} {mode:?} filtered: {}", query.filter.is_some());
                    compared += hits.len();
                }
            }
        }
        assert!(compared > 300, "too little to compare: {compared}");
    };
    let loaded = SqliteIndex::open(&path, EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
    std::thread::scope(|scope| scope.spawn(|| compare(&index, &loaded)).join().unwrap());
    for d in 0..100 {
        index.upsert(&document(d, 3)).await.unwrap();
    }
    assert!(!index.holds_matrix(), "half the documents replaced: the next search loads the file again");
    let loaded = SqliteIndex::open(&path, EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
    std::thread::scope(|scope| scope.spawn(|| compare(&index, &loaded)).join().unwrap());
}

/// A word FTS5 holds only for a row the index does not (a file another program wrote to)
/// is taken in with no rows, once: the search answers, and the next one does not ask again.
#[test]
fn a_word_held_only_by_a_row_outside_the_index_is_taken_in_empty() {
    let (_dir, index) = test_index();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(index.upsert(&document("d", 1, &["refund policy".to_owned()]))).unwrap();
    index
        .lock_writer()
        .unwrap()
        .execute("INSERT INTO chunks_fts (rowid, text) VALUES (999999, 'orphan refund')", [])
        .unwrap();
    let query = SearchQuery {
        text: "orphan refund".into(),
        vector: None,
        mode: SearchMode::Keyword,
        top_k: 10,
        filter: None,
        fusion: crate::fuse::Fusion::default(),
    };
    // On a thread of its own, so a search that never ends fails the test, not hangs it.
    let index = std::sync::Arc::new(index);
    let (searcher, sent) = (std::sync::Arc::clone(&index), std::sync::mpsc::channel());
    std::thread::spawn(move || {
        for _ in 0..2 {
            let _ = sent.0.send(runtime.block_on(searcher.search(&query)));
        }
    });
    for _ in 0..2 {
        let hits = sent.1.recv_timeout(std::time::Duration::from_secs(20)).expect("the search ends").unwrap();
        assert_eq!(hits.iter().map(|h| h.document_id.as_str()).collect::<Vec<_>>(), ["d"]);
    }
}

/// Chunks with equal metadata share one copy in memory, and a filter, decided once per
/// copy, still lets through exactly the rows whose metadata matches, in every mode.
#[tokio::test]
async fn equal_metadata_is_held_once_and_filters_still_choose_row_by_row() {
    let (_dir, index) = test_index();
    // Shelf = the id's length mod 3: "a" and "dddd" on shelf 1, "bb" on 2, "ccc" on 0.
    for id in ["a", "bb", "ccc", "dddd"] {
        let texts: Vec<String> = (0..3).map(|i| format!("refund policy {id} part {i}")).collect();
        index.upsert(&document(id, 1, &texts)).await.unwrap();
    }
    {
        let connection = index.lock_writer().unwrap();
        let matrix = load_matrix(&connection, 4).unwrap();
        assert_eq!(matrix.metadata_copies(), 3, "one copy per distinct metadata, not per chunk");
    }
    let shelf =
        Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters").unwrap();
    for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
        for filter in [None, Some(shelf.clone())] {
            let query = SearchQuery {
                text: "refund policy".into(),
                vector: Some(vec![0.3, 0.4, 1.0, 0.5]),
                mode,
                top_k: 50,
                filter: filter.clone(),
                fusion: crate::fuse::Fusion::default(),
            };
            let hits = index.search(&query).await.unwrap();
            let mut documents: Vec<&str> = hits.iter().map(|h| h.document_id.as_str()).collect();
            documents.sort_unstable();
            let expected: &[&str] = if filter.is_some() {
                &["a", "a", "a", "dddd", "dddd", "dddd"]
            } else {
                &["a", "a", "a", "bb", "bb", "bb", "ccc", "ccc", "ccc", "dddd", "dddd", "dddd"]
            };
            assert_eq!(documents, expected, "{mode:?}, filtered: {}", filter.is_some());
            for hit in &hits {
                let shelf = hit.chunk.metadata.get("shelf").and_then(Value::as_u64);
                assert_eq!(shelf, Some(hit.document_id.len() as u64 % 3), "{}'s metadata", hit.chunk.chunk_id);
            }
        }
    }
}

/// Searches on several threads while documents are replaced: every search succeeds and
/// sees each document whole, at one version (a search never reads rows of a write that
/// began after its matrix was loaded).
#[test]
fn searches_run_side_by_side_with_writes() {
    let (_dir, index) = test_index();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let texts =
        |version: u32| vec![format!("refund policy version {version}"), format!("refund desk version {version}")];
    for d in 0..20 {
        runtime.block_on(index.upsert(&document(&format!("d{d}"), 1, &texts(1)))).unwrap();
    }
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                for i in 0..100 {
                    let mode = [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid][i % 3];
                    let query = SearchQuery {
                        text: "refund".into(),
                        vector: Some(vec![0.5, 0.5, 0.5, 0.5]),
                        mode,
                        top_k: 50,
                        filter: None,
                        fusion: crate::fuse::Fusion::default(),
                    };
                    let hits = runtime.block_on(index.search(&query)).unwrap();
                    assert_eq!(hits.len(), 40, "{mode:?}: every chunk of every document");
                    for hit in &hits {
                        assert!(hit.chunk.text.ends_with(&format!("version {}", hit.version)), "{hit:?}");
                    }
                }
            });
        }
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for version in 2..60 {
                let d = version % 20;
                runtime.block_on(index.upsert(&document(&format!("d{d}"), version, &texts(version)))).unwrap();
            }
        });
    });
}

/// Words for the random documents: some stem alike, one is a stop word, one FTS5 splits in
/// two (a query holding it is ranked by FTS5 itself), and the first are the commonest.
const WORDS: [&str; 14] = [
    "refund",
    "the",
    "policy",
    "refunds",
    "wing",
    "café",
    "cafe",
    "naïve",
    "2",
    "lift",
    "drag",
    "carrier",
    "zephyr",
    "हिन्दी",
];

/// A word index, skewed towards the list's first words, as word use is.
fn word() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..4usize, 1 => 0..WORDS.len()]
}

/// A chunk: its words and its vector.
fn random_chunk() -> impl Strategy<Value = (Vec<usize>, [i8; 4])> {
    (prop::collection::vec(word(), 1..12), any::<[i8; 4]>())
}

#[derive(Debug, Clone)]
enum Step {
    /// Document `doc` at a newer version, on shelf `shelf`; or, if `stale`, an older version,
    /// which must change nothing.
    Upsert {
        doc: usize,
        chunks: Vec<(Vec<usize>, [i8; 4])>,
        shelf: u8,
        stale: bool,
    },
    Delete {
        doc: usize,
    },
    /// These words in every mode, unfiltered or on shelf 1.
    Search {
        words: Vec<usize>,
        filtered: bool,
        top_k: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..24usize, prop::collection::vec(random_chunk(), 1..4), 0..3u8, prop::bool::weighted(0.1))
            .prop_map(|(doc, chunks, shelf, stale)| Step::Upsert { doc, chunks, shelf, stale }),
        1 => (0..24usize).prop_map(|doc| Step::Delete { doc }),
        3 => (prop::collection::vec(word(), 1..4), any::<bool>(), 1..15usize)
            .prop_map(|(words, filtered, top_k)| Step::Search { words, filtered, top_k }),
    ]
}

/// Runs the steps on one index, each write at a later time than the one before; at every
/// search, compares it with a fresh load of the file and its keyword ranking with FTS5's.
fn run_steps(first: &[Vec<(Vec<usize>, [i8; 4])>], steps: &[Step]) -> Result<(), TestCaseError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (dir, index) = test_index();
    let path = dir.path().join("index.sqlite");
    let model = EmbeddingModel { model: "test".into(), dims: 4 };
    // Each write's time, a second after the one before.
    let clock = std::cell::Cell::new(0i64);
    let tick = || {
        clock.set(clock.get() + 1);
        clock.get()
    };
    let upsert = |doc: usize, chunks: &[(Vec<usize>, [i8; 4])], shelf: u8, stale: bool| {
        let clock = tick();
        let at = chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + if stale { 0 } else { clock }, 0).unwrap();
        let mut metadata = Map::new();
        metadata.insert("shelf".into(), Value::from(shelf));
        let document = IndexedDocument {
            document_id: format!("d{doc}"),
            version: if stale { 0 } else { clock as u32 },
            processed_at: at,
            embedding: model.clone(),
            chunks: chunks
                .iter()
                .enumerate()
                .map(|(i, (words, vector))| {
                    let text: Vec<&str> = words.iter().map(|&w| WORDS[w]).collect();
                    let vector = vector.iter().map(|&x| f32::from(x) / 64.0 + 0.01).collect();
                    chunk(&format!("d{doc}:{clock}:{i}"), &text.join(" "), vector, metadata.clone())
                })
                .collect(),
        };
        runtime.block_on(index.upsert(&document)).unwrap()
    };
    // Documents written at a version after the first (or deleted): an older one is stale.
    let mut written = std::collections::HashSet::new();
    for (doc, chunks) in first.iter().enumerate() {
        upsert(doc, chunks, (doc % 3) as u8, false);
        written.insert(doc);
    }
    for step in steps {
        match step {
            Step::Upsert { doc, chunks, shelf, stale } => {
                let upserted = upsert(*doc, chunks, *shelf, *stale);
                prop_assert_eq!(upserted == Upserted::Stale, *stale && written.contains(doc));
                if !stale {
                    written.insert(*doc);
                }
            }
            Step::Delete { doc } => {
                let at = chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + tick(), 0).unwrap();
                runtime.block_on(index.delete(&format!("d{doc}"), at)).unwrap();
                written.insert(*doc);
            }
            Step::Search { words, filtered, top_k } => {
                let shelf =
                    Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters")
                        .unwrap();
                let loaded = SqliteIndex::open(&path, model.clone()).unwrap();
                for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
                    let query = SearchQuery {
                        text: words.iter().map(|&w| WORDS[w]).collect::<Vec<_>>().join(" "),
                        vector: Some(vec![0.3, -0.4, 0.8, 0.1]),
                        mode,
                        top_k: *top_k,
                        filter: filtered.then(|| shelf.clone()),
                        fusion: crate::fuse::Fusion::default(),
                    };
                    let hits = runtime.block_on(index.search(&query)).unwrap();
                    let expected = runtime.block_on(loaded.search(&query)).unwrap();
                    prop_assert_eq!(&hits, &expected, "{:?}", query);
                    if mode == SearchMode::Keyword {
                        let matrix = index.matrix.read().unwrap();
                        let connection = index.lock_writer().unwrap();
                        let (Some(matrix), Some(terms)) =
                            (matrix.as_ref(), keyword_terms(&connection, &query).unwrap())
                        else {
                            continue;
                        };
                        let found = matrix.keyword_ranking(&connection, &query, Some(&terms), *top_k).unwrap();
                        let fts5 = matrix.fts5_keyword_ranking(&connection, &query, *top_k).unwrap();
                        let rows = |ranking: &[(usize, f64)]| ranking.iter().map(|r| r.0).collect::<Vec<_>>();
                        prop_assert_eq!(
                            rows(&found),
                            rows(&fts5),
                            "{:?}: {:?} against FTS5's {:?}",
                            query,
                            found,
                            fts5
                        );
                        for (a, b) in found.iter().zip(&fts5) {
                            prop_assert!(
                                (a.1 - b.1).abs() <= 1e-9 * b.1.abs().max(1.0),
                                "{:?}: {:?} against {:?}",
                                query,
                                a,
                                b
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any writes and searches, in any order: the index that took the writes in (following
    /// them in memory, or loading the file again after big ones, each word's postings read
    /// when first searched for) answers every search as a fresh load of its file does, and
    /// ranks keywords as FTS5's `bm25()` does.
    #[test]
    fn any_writes_and_searches_answer_as_a_fresh_load_and_as_fts5(
        first in prop::collection::vec(prop::collection::vec(random_chunk(), 1..4), 4..24),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        run_steps(&first, &steps)?;
    }
}
