//! Query latency per mode and backend (keyword also when its words are asked for the first
//! time), index build rate, the embedded index's load time and its first search after a
//! write, and both backends' vector recall@10 against an exact scan done here. Not a test:
//! figures go to bench/RESULTS.md.
//!
//! ```text
//! cargo run --release -p retrieve --example search_latency -- 10000 [postgres-url [--postgres-builds|--postgres-bulk]]
//! ```
//! Builds a synthetic corpus of N chunks (384-dim hashing vectors of Zipf-distributed
//! words), indexes it in SQLite and, given a URL, in PostgreSQL, then runs 200 queries per
//! mode, unfiltered and with a filter matching 10% of the chunks. PostgreSQL is built a
//! document at a time and by two bulk loads, one building the vector index a bulk load
//! chooses (IVFFlat from 100k chunks on) and one building HNSW; `--postgres-builds` runs only
//! those builds, the recalls and the bulk-loaded indexes' latencies (`--postgres-bulk`: the
//! bulk loads alone; `SEAMS_BENCH_BULK=hnsw,default` swaps their order, `default` runs only
//! the first). `SEAMS_BENCH_BEAMS=100,200` then measures the HNSW schema again at those beams,
//! `SEAMS_BENCH_PROBES=40,50` the default schema at those shares of IVFFlat's lists, and
//! `SEAMS_BENCH_BUDGETS=5000` every schema with that budget of keyword candidates' postings,
//! with a filter or without (the defaults differ).
//! `SEAMS_BENCH_SPLIT=1` also runs each bulk load's hybrid queries with their lists at once, on
//! two connections (one per part of a vector index in parts, else one per list), side by side
//! with one statement, alone and with 2 and 8 clients at once.
//! `SEAMS_BENCH_SCHEMA=bench_123` measures the schemas an earlier run of the same size left
//! (`bench_123_bulk`, …) without loading them again: two builds of the search, side by side
//! on the same index.

#[path = "support/corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use retrieve::fuse::Fusion;
use retrieve::index::{normalised, IndexedDocument, SearchIndex, SearchQuery};
use retrieve::postgres::{self, Connection, ListsAtOnce, PostgresIndex, PostgresSettings};
use retrieve::sqlite::SqliteIndex;
use retrieve::Predicate;
use seams_contracts::retrieve::SearchMode;
use seams_embeddings::hashing::HashingEmbedder;
use seams_embeddings::Embedder;
use serde_json::json;

use crate::corpus::{corpus, Words};

/// Queries per mode; `SEAMS_BENCH_QUERIES` lowers it for the slow rounds at 1M chunks.
fn query_count() -> usize {
    std::env::var("SEAMS_BENCH_QUERIES").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
}

fn queries(embedder: &HashingEmbedder, mode: SearchMode, filtered: bool) -> Vec<SearchQuery> {
    let mut words = Words(0xC0FFEE);
    let filter = filtered.then(|| {
        Predicate::compile(&serde_json::from_value(json!({"category": "policy"})).unwrap(), "filters").unwrap()
    });
    (0..query_count())
        .map(|_| {
            let text = words.text(6);
            let vector = (mode != SearchMode::Keyword).then(|| normalised(&embedder.vector(&text).unwrap_or_default()));
            SearchQuery { text, vector, mode, top_k: 10, filter: filter.clone(), fusion: Fusion::default() }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints the p50 and p99 of `samples`, what `name` measured as `what`.
fn report(name: &str, what: &str, filtered: bool, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: {what}{} p50 {:.2?} p99 {:.2?}",
        if filtered { " filtered(10%)" } else { "" },
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

async fn build(name: &str, index: &dyn SearchIndex, documents: &[IndexedDocument]) {
    let started = Instant::now();
    for document in documents {
        index.upsert(document).await.expect("indexing succeeds");
    }
    let elapsed = started.elapsed();
    let chunks: usize = documents.iter().map(|d| d.chunks.len()).sum();
    println!(
        "{name}: indexed {chunks} chunks in {elapsed:.1?} ({:.0} chunks/s)",
        chunks as f64 / elapsed.as_secs_f64()
    );
}

/// Each query's time, one after the other.
async fn each_timed(index: &dyn SearchIndex, queries: &[SearchQuery]) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        index.search(query).await.expect("search succeeds");
        samples.push(started.elapsed());
    }
    samples
}

async fn latencies(name: &str, index: &dyn SearchIndex, embedder: &HashingEmbedder) {
    let started = Instant::now();
    index.search(&queries(embedder, SearchMode::Hybrid, false)[0]).await.expect("search succeeds");
    println!("{name}: first search after the build {:.2?}", started.elapsed());
    // Every mode asks the same words. The embedded index reads a word's postings when a search
    // first asks for it, so this first pass pays for that and the ones below do not.
    let first = each_timed(index, &queries(embedder, SearchMode::Keyword, false)).await;
    report(name, "Keyword, each query's words asked for the first time", false, first);
    for filtered in [false, true] {
        for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
            let queries = queries(embedder, mode, filtered);
            index.search(&queries[0]).await.expect("search succeeds"); // warm
            report(name, &format!("{mode:?}"), filtered, each_timed(index, &queries).await);
        }
    }
}

/// What a write costs the searches after it: 20 indexer batches, each a document of the corpus
/// replaced by a new version, each timed, then the hybrid search right after it (the embedded
/// index follows a small write in memory; the first search after the build shows what loading
/// it again costs).
async fn after_writes(name: &str, index: &dyn SearchIndex, documents: &[IndexedDocument], embedder: &HashingEmbedder) {
    let queries = queries(embedder, SearchMode::Hybrid, false);
    let (mut writes, mut searches) = (Vec::new(), Vec::new());
    for (round, (document, query)) in documents.iter().zip(queries.iter().cycle()).take(20).enumerate() {
        let mut next = document.clone();
        next.version += 1 + round as u32;
        for chunk in &mut next.chunks {
            chunk.chunk_id = format!("{}:{}:{}", next.document_id, next.version, chunk.ordinal);
        }
        let started = Instant::now();
        index.upsert(&next).await.expect("indexing succeeds");
        writes.push(started.elapsed());
        let started = Instant::now();
        index.search(query).await.expect("search succeeds");
        searches.push(started.elapsed());
    }
    let chunks = documents.first().map_or(0, |d| d.chunks.len());
    report(name, &format!("write of a document ({chunks} chunks) replaced"), false, writes);
    report(name, "Hybrid, the first search after that write", false, searches);
}

/// The alternative to hybrid as one statement: its lists at once, on connections of their own,
/// fused in retrieve (`with_hybrid_lists_at_once`). Measured when `SEAMS_BENCH_SPLIT`
/// is set: each query both ways, back to back, the first way alternating, and the answers
/// compared (the same chunks in the same order, scores within 1e-9).
async fn split_hybrid(name: &str, one_statement: &PostgresIndex, at_once: &PostgresIndex, embedder: &HashingEmbedder) {
    for filtered in [false, true] {
        let queries = queries(embedder, SearchMode::Hybrid, filtered);
        // Finds the vector index's parts and sees nothing else running, then opens the other
        // connections.
        for query in &queries[..2] {
            at_once.search(query).await.expect("search succeeds");
        }
        let (mut one, mut two, mut same) = (Vec::new(), Vec::new(), 0);
        for (i, query) in queries.iter().enumerate() {
            let ((one_took, expected), (two_took, got)) = if i % 2 == 0 {
                let first = timed(one_statement, query).await;
                (first, timed(at_once, query).await)
            } else {
                let second = timed(at_once, query).await;
                (timed(one_statement, query).await, second)
            };
            one.push(one_took);
            two.push(two_took);
            same += usize::from(same_answer(&got, &expected));
        }
        report(name, "Hybrid as one statement (side by side)", filtered, one);
        report(name, "Hybrid with its lists at once", filtered, two);
        println!(
            "{name}: Hybrid with its lists at once{} ranks as one statement for {same} of {} queries",
            if filtered { " filtered(10%)" } else { "" },
            queries.len()
        );
    }
}

/// Hybrid under load, as one statement, with its lists at once while the database is idle
/// (so, mostly not) and always: 2 and 8 clients at once, each with an index (and connections)
/// of its own, as function instances have, each asking 400 / clients queries (at least 25).
/// Measured when `SEAMS_BENCH_SPLIT` is set.
fn loaded_hybrid(
    name: &str,
    index_with_lists_at_once: &(dyn Fn(ListsAtOnce) -> PostgresIndex + Sync),
    embedder: &HashingEmbedder,
) {
    let queries = queries(embedder, SearchMode::Hybrid, false);
    for clients in [2, 8] {
        for at_once in [ListsAtOnce::Never, ListsAtOnce::WhileIdle, ListsAtOnce::Always] {
            let indexes: Vec<PostgresIndex> = (0..clients).map(|_| index_with_lists_at_once(at_once)).collect();
            let (samples, per_second) = clients_at_once(clients, &queries, &|client| &indexes[client]);
            println!(
                "{name}: Hybrid {} with {clients} clients, an index each, p50 {:.2?} p99 {:.2?}, {per_second:.0} queries/s",
                match at_once {
                    ListsAtOnce::Never => "as one statement",
                    ListsAtOnce::WhileIdle => "with its lists at once while idle",
                    ListsAtOnce::Always => "with its lists at once always",
                },
                percentile(&samples, 0.5),
                percentile(&samples, 0.99),
            );
        }
    }
}

/// The same chunks in the same order, scores within 1e-9.
fn same_answer(got: &[retrieve::index::Hit], expected: &[retrieve::index::Hit]) -> bool {
    got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|(a, b)| a.chunk.chunk_id == b.chunk.chunk_id && (a.score - b.score).abs() < 1e-9)
}

async fn timed(index: &PostgresIndex, query: &SearchQuery) -> (Duration, Vec<retrieve::index::Hit>) {
    let started = Instant::now();
    let hits = index.search(query).await.expect("search succeeds");
    (started.elapsed(), hits)
}

/// `SEAMS_BENCH_BULK`: the bulk loads to run, in order (`default,hnsw` unless told; `default`
/// alone for the slow rounds at 1M chunks), each as (name, schema suffix, the smallest load
/// that builds IVFFlat): `default` as `bulk_load` chooses, `hnsw` HNSW at any size.
fn bulk_loads() -> Vec<(&'static str, &'static str, u64)> {
    std::env::var("SEAMS_BENCH_BULK")
        .unwrap_or_else(|_| "default,hnsw".into())
        .split(',')
        .map(|load| match load.trim() {
            "default" => ("postgres, bulk-loaded", "bulk", postgres::IVFFLAT_MIN_CHUNKS),
            "hnsw" => ("postgres, bulk-loaded as HNSW", "bulk_hnsw", u64::MAX),
            other => panic!("SEAMS_BENCH_BULK: {other:?} is neither default nor hnsw"),
        })
        .collect()
}

/// The comma-separated numbers in environment variable `name`: `SEAMS_BENCH_BEAMS`, HNSW
/// beams to measure after the default one on the HNSW schema; `SEAMS_BENCH_PROBES`, shares of
/// IVFFlat's lists (percent) to measure after the default one on the default schema.
fn numbers(name: &str) -> Vec<usize> {
    std::env::var(name).unwrap_or_default().split(',').filter_map(|n| n.trim().parse().ok()).collect()
}

/// How many of the first 50 keyword and hybrid queries (filtered or not) `index` answers as
/// `reference` (described as `reference_is`) does: the same chunks in the same order, scores
/// within 1e-9.
async fn same_ranking(
    name: &str,
    index: &dyn SearchIndex,
    reference: &dyn SearchIndex,
    reference_is: &str,
    embedder: &HashingEmbedder,
) {
    for filtered in [false, true] {
        for mode in [SearchMode::Keyword, SearchMode::Hybrid] {
            let queries = queries(embedder, mode, filtered);
            let compared = queries.len().min(50);
            let mut same = 0;
            for query in &queries[..compared] {
                let got = index.search(query).await.expect("search succeeds");
                let expected = reference.search(query).await.expect("search succeeds");
                same += usize::from(same_answer(&got, &expected));
            }
            println!(
                "{name}: {mode:?}{} ranks as {reference_is} for {same} of {compared} queries",
                if filtered { " filtered(10%)" } else { "" }
            );
        }
    }
}

/// Hybrid queries from 1, 8 and 32 clients at once, each on a thread of its own (as requests
/// on a server's workers): latency per query as its client sees it, and queries per second.
fn concurrency(name: &str, index: &(dyn SearchIndex + Sync), embedder: &HashingEmbedder) {
    let queries = queries(embedder, SearchMode::Hybrid, false);
    for clients in [1, 8, 32] {
        let (samples, per_second) = clients_at_once(clients, &queries, &|_| index);
        println!(
            "{name}: Hybrid with {clients} concurrent clients p50 {:.2?} p99 {:.2?}, {per_second:.0} queries/s",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
        );
    }
}

/// `clients` threads at once, each with a runtime of its own and the index `index_of` gives it:
/// one query first (it connects), then 400 / clients queries (at least 25), its own slice of
/// `queries` first. The latencies as the clients saw them, sorted, and queries per second.
fn clients_at_once<'a>(
    clients: usize,
    queries: &[SearchQuery],
    index_of: &(dyn Fn(usize) -> &'a (dyn SearchIndex + Sync) + Sync),
) -> (Vec<Duration>, f64) {
    let started = Instant::now();
    let mut samples: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    let runtime =
                        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                    let index = index_of(client);
                    runtime.block_on(index.search(&queries[0])).expect("search succeeds");
                    (0..(400 / clients).max(25))
                        .map(|i| {
                            let query = &queries[(client * 37 + i) % queries.len()];
                            let asked = Instant::now();
                            runtime.block_on(index.search(query)).expect("search succeeds");
                            asked.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a client finishes")).collect()
    });
    let per_second = samples.len() as f64 / started.elapsed().as_secs_f64();
    samples.sort();
    (samples, per_second)
}

/// The exact top 10 by cosine similarity, ties by chunk id: every chunk scored.
fn exact_top10(documents: &[IndexedDocument], query: &SearchQuery) -> Vec<String> {
    let vector = query.vector.as_deref().unwrap_or_default();
    let mut scored: Vec<(f32, &str)> = documents
        .iter()
        .flat_map(|d| &d.chunks)
        .filter(|c| query.filter.as_ref().is_none_or(|f| f.matches(&c.metadata)))
        .map(|c| (normalised(&c.embedding).iter().zip(vector).map(|(a, b)| a * b).sum(), c.chunk_id.as_str()))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(10).map(|(_, id)| id.to_owned()).collect()
}

/// Mean overlap of the index's vector top 10 with the exact top 10.
async fn recall(name: &str, index: &dyn SearchIndex, documents: &[IndexedDocument], embedder: &HashingEmbedder) {
    for filtered in [false, true] {
        let mut overlap = 0usize;
        let queries = queries(embedder, SearchMode::Vector, filtered);
        for query in &queries {
            let truth = exact_top10(documents, query);
            let found = index.search(query).await.expect("search succeeds");
            overlap += found.iter().filter(|h| truth.contains(&h.chunk.chunk_id)).count();
        }
        println!(
            "{name}: vector recall@10{} {:.3}",
            if filtered { " filtered(10%)" } else { "" },
            overlap as f64 / (queries.len() * 10) as f64
        );
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let chunks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let database_url = args.next();
    // Only PostgreSQL: both builds side by side (or the bulk load alone), recall, and the
    // bulk-loaded index's latencies.
    let postgres_only = args.next();
    let builds_only = matches!(postgres_only.as_deref(), Some("--postgres-builds" | "--postgres-bulk"));
    let incremental = postgres_only.as_deref() != Some("--postgres-bulk");
    let embedder = HashingEmbedder::default();
    let documents = corpus(chunks, &embedder);

    if !builds_only {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sqlite =
            SqliteIndex::open(&dir.path().join("bench.sqlite"), embedder.model().clone()).expect("sqlite opens");
        build("sqlite", &sqlite, &documents).await;
        latencies("sqlite", &sqlite, &embedder).await;
        recall("sqlite", &sqlite, &documents, &embedder).await;
        concurrency("sqlite", &sqlite, &embedder);
        after_writes("sqlite", &sqlite, &documents, &embedder).await;
        let size = std::fs::metadata(sqlite.path()).map(|m| m.len()).unwrap_or_default();
        println!("sqlite: file {:.1} MiB", size as f64 / 1_048_576.0);
    }

    if let Some(url) = database_url {
        let settings = |schema: String| PostgresSettings {
            connection: Connection::Fixed(url.parse().expect("a postgres URL")),
            schema,
            ca_file: None,
        };
        let reused = std::env::var("SEAMS_BENCH_SCHEMA").ok();
        let schema = reused.clone().unwrap_or_else(|| format!("bench_{}", std::process::id()));
        let postgres = PostgresIndex::new(settings(schema.clone()), embedder.model().clone()).expect("a valid schema");
        postgres.migrate().await.expect("migrations run");
        if incremental && reused.is_none() {
            build("postgres", &postgres, &documents).await;
        }
        // About 2.5 KiB per vector keeps HNSW's graph in memory while it builds.
        let build_memory = u32::try_from(chunks / 400).unwrap_or(u32::MAX).max(1024);
        // The default bulk load (IVFFlat from `IVFFLAT_MIN_CHUNKS` on) and the alternative, the
        // same load building HNSW, side by side, in `SEAMS_BENCH_BULK`'s order.
        let loads: Vec<(&str, PostgresIndex)> = bulk_loads()
            .into_iter()
            .map(|(name, suffix, ivfflat_min_chunks)| {
                let index = PostgresIndex::new(settings(format!("{schema}_{suffix}")), embedder.model().clone())
                    .expect("a valid schema")
                    .with_build_memory_mib(build_memory)
                    .with_ivfflat_min_chunks(ivfflat_min_chunks);
                (name, index)
            })
            .collect();
        for (name, bulk) in &loads {
            bulk.migrate().await.expect("migrations run");
            if reused.is_none() {
                let started = Instant::now();
                let loaded = bulk.bulk_load(&documents).await.expect("the bulk load succeeds");
                let elapsed = started.elapsed();
                println!(
                    "{name}, bulk load: {loaded} chunks in {elapsed:.1?} ({:.0} chunks/s)",
                    loaded as f64 / elapsed.as_secs_f64()
                );
            }
            recall(name, bulk, &documents, &embedder).await;
            if !builds_only {
                continue;
            }
            latencies(name, bulk, &embedder).await;
            if std::env::var_os("SEAMS_BENCH_SPLIT").is_some() {
                let at_once = PostgresIndex::new(settings(bulk.schema().to_owned()), embedder.model().clone())
                    .expect("a valid schema")
                    .with_hybrid_lists_at_once(ListsAtOnce::WhileIdle);
                split_hybrid(name, bulk, &at_once, &embedder).await;
                let index_with_lists_at_once = |at_once| {
                    PostgresIndex::new(settings(bulk.schema().to_owned()), embedder.model().clone())
                        .expect("a valid schema")
                        .with_hybrid_lists_at_once(at_once)
                };
                loaded_hybrid(name, &index_with_lists_at_once, &embedder);
            }
            let every_match = PostgresIndex::new(settings(bulk.schema().to_owned()), embedder.model().clone())
                .expect("a valid schema")
                .with_rare_postings(i64::MAX);
            same_ranking(name, bulk, &every_match, "scoring every match", &embedder).await;
        }
        if builds_only {
            if incremental {
                recall("postgres", &postgres, &documents, &embedder).await;
            }
            // Other settings on the same schemas, side by side with the defaults: HNSW beams
            // on the HNSW load, shares of IVFFlat's lists on the default one (IVFFlat from
            // its size on).
            for (name, load) in &loads {
                let hnsw = name.ends_with("HNSW");
                for value in numbers(if hnsw { "SEAMS_BENCH_BEAMS" } else { "SEAMS_BENCH_PROBES" }) {
                    let index = PostgresIndex::new(settings(load.schema().to_owned()), embedder.model().clone())
                        .expect("a valid schema");
                    let (other, name) = match hnsw {
                        true => (index.with_ef_search(value), format!("{name}, beam {value}")),
                        false => (
                            index.with_ivfflat_probes_percent(value),
                            format!("{name}, {value}% of IVFFlat's lists probed"),
                        ),
                    };
                    recall(&name, &other, &documents, &embedder).await;
                    latencies(&name, &other, &embedder).await;
                    same_ranking(&name, &other, load, "the default setting", &embedder).await;
                }
                // One budget of keyword candidates with a filter or without, against the
                // defaults' two, on every load.
                for budget in numbers("SEAMS_BENCH_BUDGETS") {
                    let with_budget = |at_once| {
                        PostgresIndex::new(settings(load.schema().to_owned()), embedder.model().clone())
                            .expect("a valid schema")
                            .with_rare_postings(i64::try_from(budget).unwrap_or(i64::MAX))
                            .with_hybrid_lists_at_once(at_once)
                    };
                    let name = format!("{name}, a budget of {budget} postings with a filter or without");
                    let one_statement = with_budget(ListsAtOnce::Never);
                    latencies(&name, &one_statement, &embedder).await;
                    if std::env::var_os("SEAMS_BENCH_SPLIT").is_some() {
                        split_hybrid(&name, &one_statement, &with_budget(ListsAtOnce::WhileIdle), &embedder).await;
                    }
                    same_ranking(&name, &one_statement, load, "the default budgets", &embedder).await;
                }
            }
            return;
        }
        // The same index scoring every keyword match (a budget that takes every word), as
        // before keyword candidates came from the rare words: the alternative, side by side.
        let every_match = PostgresIndex::new(settings(schema), embedder.model().clone())
            .expect("a valid schema")
            .with_rare_postings(i64::MAX);
        latencies("postgres, scoring every keyword match", &every_match, &embedder).await;
        latencies("postgres", &postgres, &embedder).await;
        recall("postgres", &postgres, &documents, &embedder).await;
        concurrency("postgres", &postgres, &embedder);
    }
}
