//! `seams eval`: retrieval quality on a test collection, measured through the real pipeline.
//! Every document goes through ingest, process and the indexer on the local adapters (the
//! same handlers as deployed); every judged query through retrieve, in each search mode.

pub mod dataset;
pub mod metrics;

use std::collections::HashSet;
use std::time::Instant;

use futures::StreamExt;
use seams_contracts::retrieve::{RetrieveRequest, SearchMode};
use seams_contracts::{Attributes, CorrelationId, ErrorName};
use serde::Serialize;

use self::dataset::Dataset;
use self::metrics::{ndcg_at, quantile, recall_at, reciprocal_rank_at};
use crate::LocalStack;

/// Results asked for per query: recall@100 needs a hundred documents.
const TOP_K: u32 = 100;
const INGEST_CONCURRENCY: usize = 8;

/// One search mode's figures, averaged over the judged queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeReport {
    pub mode: SearchMode,
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Every query's ranking, for a TREC run file.
    #[serde(skip)]
    pub run: Vec<RankedQuery>,
}

/// One query's documents, best first, each with the score of its best chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedQuery {
    pub query_id: String,
    pub documents: Vec<(String, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub dataset: String,
    pub documents: usize,
    pub queries: usize,
    pub embedding_model: String,
    /// The chunking strategy the documents were cut with.
    pub chunking: String,
    /// Chunks the index holds for the collection.
    pub chunks: usize,
    /// Documents ingest refused (an empty one, say), with the reason: they cannot be found.
    pub refused: Vec<(String, String)>,
    pub ingest_seconds: f64,
    pub modes: Vec<ModeReport>,
}

/// How far a run has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Ingested { done: usize, total: usize },
    Asked { mode: SearchMode, done: usize, total: usize },
}

/// The id a document is ingested under: BEIR ids may hold characters document ids refuse,
/// so documents are numbered and results mapped back by number.
fn local_id(index: usize) -> String {
    format!("eval-{index}")
}

fn dataset_index(local: &str) -> Option<usize> {
    local.strip_prefix("eval-")?.parse().ok()
}

/// Ingests the collection, processes and indexes it, then asks every judged query in each
/// of `modes`.
pub async fn run(
    stack: &LocalStack,
    dataset: &Dataset,
    modes: &[SearchMode],
    progress: impl Fn(Progress),
) -> Result<Report, String> {
    let started = Instant::now();
    let ingest = stack.ingest();
    let correlation = CorrelationId::new("seams-eval");
    let total = dataset.documents.len();
    let mut ingested = futures::stream::iter(dataset.documents.iter().enumerate())
        .map(|(index, document)| {
            let incoming = ingest::Incoming {
                document_id: Some(local_id(index)),
                source_uri: None,
                content_type: "text/plain".into(),
                bytes: format!("{}\n\n{}", document.title, document.text).into_bytes(),
                attributes: Attributes::new(),
                tenant: None,
            };
            let (ingest, correlation) = (&ingest, &correlation);
            async move { (index, document, ingest.ingest_bytes(incoming, correlation).await) }
        })
        .buffer_unordered(INGEST_CONCURRENCY);
    let (mut done, mut refused, mut accepted) = (0, Vec::new(), Vec::new());
    while let Some((index, document, outcome)) = ingested.next().await {
        match outcome {
            Ok(_) => accepted.push(index),
            Err(error) if error.name == ErrorName::InvalidInput => {
                refused.push((document.id.clone(), error.to_string()))
            }
            Err(error) => return Err(format!("document {}: {error}", document.id)),
        }
        done += 1;
        progress(Progress::Ingested { done, total });
    }
    drop(ingested);
    let failed = stack.drain().await.map_err(|e| e.to_string())?;
    let (chunks, processed) = records(stack).await?;
    if !failed.is_empty() {
        // Documents process refused (over a limit of the chunking strategy, say) have no
        // record: like those ingest refused, they cannot be found. Any other failure stops
        // the run.
        let unprocessed: Vec<usize> =
            accepted.into_iter().filter(|index| !processed.contains(&local_id(*index))).collect();
        if unprocessed.is_empty() {
            return Err(format!("{} message(s) failed in the indexer", failed.len()));
        }
        for index in unprocessed {
            let reason = "failed in process (its message is in process's dead-letter queue)".to_owned();
            refused.push((dataset.documents[index].id.clone(), reason));
        }
    }
    refused.sort();
    let ingest_seconds = started.elapsed().as_secs_f64();

    let retrieve = stack.retrieve();
    let mut reports = Vec::new();
    let mut embedding_model = String::new();
    for &mode in modes {
        let (mut ndcg, mut recall_10, mut recall_100, mut mrr, mut latencies) = (0.0, 0.0, 0.0, 0.0, Vec::new());
        let mut run = Vec::with_capacity(dataset.queries.len());
        for (done, query) in dataset.queries.iter().enumerate() {
            let request = RetrieveRequest {
                schema_version: Default::default(),
                query: query.text.clone(),
                top_k: TOP_K,
                filters: None,
                search_mode: mode,
                min_score: None,
                include_embeddings: false,
                rerank: None,
                correlation_id: None,
                tenant: None,
                max_bytes: None,
            };
            let asked = Instant::now();
            let response = retrieve.retrieve(&request).await.map_err(|e| format!("query {}: {e}", query.id))?;
            latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
            embedding_model = response.embedding_model.clone();
            // Chunks to documents, each at its best chunk's rank.
            let mut seen = HashSet::new();
            let documents: Vec<(String, f64)> = response
                .results
                .iter()
                .filter_map(|chunk| Some((dataset_index(&chunk.document_id)?, chunk.score)))
                .filter(|(index, _)| seen.insert(*index))
                .filter_map(|(index, score)| Some((dataset.documents.get(index)?.id.clone(), score)))
                .collect();
            let ranking: Vec<String> = documents.iter().map(|(id, _)| id.clone()).collect();
            let judged = dataset.judgements.get(&query.id).cloned().unwrap_or_default();
            ndcg += ndcg_at(&ranking, &judged, 10);
            recall_10 += recall_at(&ranking, &judged, 10);
            recall_100 += recall_at(&ranking, &judged, 100);
            mrr += reciprocal_rank_at(&ranking, &judged, 10);
            run.push(RankedQuery { query_id: query.id.clone(), documents });
            progress(Progress::Asked { mode, done: done + 1, total: dataset.queries.len() });
        }
        let count = dataset.queries.len().max(1) as f64;
        reports.push(ModeReport {
            mode,
            ndcg_at_10: ndcg / count,
            recall_at_10: recall_10 / count,
            recall_at_100: recall_100 / count,
            mrr_at_10: mrr / count,
            latency_p50_ms: quantile(&latencies, 0.5),
            latency_p99_ms: quantile(&latencies, 0.99),
            run,
        });
    }
    Ok(Report {
        dataset: dataset.name.clone(),
        documents: dataset.documents.len(),
        queries: dataset.queries.len(),
        embedding_model,
        chunking: stack.settings().process.strategy.name().to_owned(),
        chunks,
        refused,
        ingest_seconds,
        modes: reports,
    })
}

/// The chunks process made of the collection and the documents it made records of, from
/// the records' headers.
async fn records(stack: &LocalStack) -> Result<(usize, HashSet<String>), String> {
    use seams_platform::object_store::ObjectStore;
    let (mut chunks, mut documents) = (0, HashSet::new());
    for record in stack.records.list("records/").await.map_err(|e| e.to_string())? {
        let object = stack.records.get(&record.key).await.map_err(|e| e.to_string())?;
        let header = object.body.split(|b| *b == b'\n').next().unwrap_or_default();
        let header: seams_contracts::process::RecordHeader =
            serde_json::from_slice(header).map_err(|e| format!("record {}: {e}", record.key))?;
        chunks += header.chunk_count as usize;
        documents.insert(header.document_id);
    }
    Ok((chunks, documents))
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Vector => "vector",
        SearchMode::Keyword => "keyword",
        SearchMode::Hybrid => "hybrid",
    }
}

/// The report as a table.
pub fn describe(report: &Report) -> String {
    let mut text = format!(
        "{}: {} documents, {} judged queries; embedder {}; chunking {} ({} chunks); ingested, processed and indexed in {:.1} s\n\n",
        report.dataset,
        report.documents,
        report.queries,
        report.embedding_model,
        report.chunking,
        report.chunks,
        report.ingest_seconds
    );
    // A strategy's limit can refuse most of a collection: name a few, count the rest.
    const NAMED: usize = 10;
    for (id, reason) in report.refused.iter().take(NAMED) {
        text.push_str(&format!("document {id} refused: {reason}\n"));
    }
    if report.refused.len() > NAMED {
        text.push_str(&format!("and {} more refused\n", report.refused.len() - NAMED));
    }
    if !report.refused.is_empty() {
        text.push('\n');
    }
    text.push_str("mode     nDCG@10  recall@10  recall@100  MRR@10  p50 ms  p99 ms\n");
    for mode in &report.modes {
        text.push_str(&format!(
            "{:<8} {:>7.3}  {:>9.3}  {:>10.3}  {:>6.3}  {:>6.1}  {:>6.1}\n",
            mode_name(mode.mode),
            mode.ndcg_at_10,
            mode.recall_at_10,
            mode.recall_at_100,
            mode.mrr_at_10,
            mode.latency_p50_ms,
            mode.latency_p99_ms
        ));
    }
    text
}

/// A mode's rankings as a TREC run file (`qid Q0 docid rank score tag`), the format
/// trec_eval, ranx and pytrec_eval read.
pub fn trec_run(mode: &ModeReport) -> String {
    let tag = format!("seams-{}", mode_name(mode.mode));
    let mut text = String::new();
    for query in &mode.run {
        for (position, (document, score)) in query.documents.iter().enumerate() {
            text.push_str(&format!("{} Q0 {document} {} {score} {tag}\n", query.query_id, position + 1));
        }
    }
    text
}

/// The file a mode's run is written to.
pub fn trec_run_file(mode: SearchMode) -> String {
    format!("{}.trec", mode_name(mode))
}

/// `vector`, `keyword` or `hybrid`.
pub fn parse_mode(text: &str) -> Result<SearchMode, String> {
    match text {
        "vector" => Ok(SearchMode::Vector),
        "keyword" => Ok(SearchMode::Keyword),
        "hybrid" => Ok(SearchMode::Hybrid),
        other => Err(format!("--mode {other:?}: expected vector, keyword or hybrid")),
    }
}

/// `--chunking`: one strategy, `all` of them, or (None) whatever SEAMS_CHUNKING says.
pub fn parse_chunking(text: Option<&str>) -> Result<Vec<Option<process::strategy::Chunking>>, String> {
    use process::strategy::Chunking;
    match text {
        None => Ok(vec![None]),
        Some("all") => Ok(Chunking::ALL.into_iter().map(Some).collect()),
        Some(name) => name.parse().map(|c| vec![Some(c)]).map_err(|e| format!("--chunking: {e} (or all)")),
    }
}
