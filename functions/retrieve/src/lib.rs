//! The retrieve service: vector, keyword and hybrid search over its own index. Two
//! binaries share this library: the query API (`retrieve`) and the indexer
//! (`retrieve-indexer`, see [`indexer`]). Callers never learn which backend serves them:
//! both implement [`SearchIndex`].

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod feedback;
pub mod filter;
pub mod fuse;
pub mod index;
pub mod indexer;
pub mod keywords;
pub mod manifest;
pub mod parents;
pub mod postgres;
pub mod postings;
pub mod quantised;
pub mod rerank;
pub mod segments;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::decompose::{MergeInvoke, MergeRequest, Merged};
use seams_contracts::retrieve::{RetrieveRequest, RetrieveResponse, RetrievedChunk, SearchMode};
use seams_contracts::{CorrelationId, V1};
use seams_embeddings::Embedder;
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::tenancy::{refuse_callers_tenant, Caller, Tenancy, TENANT_ATTRIBUTE};
use seams_platform::trigger::Trigger;
use seams_platform::{http, ServiceError};

#[cfg(feature = "aws")]
pub use crate::aws::{open_configured, open_index};
pub use crate::config::{
    ef_search_from_env, hybrid_lists_at_once_from_env, ivfflat_probes_percent_from_env, postgres_settings, Backend,
    Config, DatabaseSource, Role, Settings,
};
pub use crate::feedback::VectorFeedback;
pub use crate::filter::Predicate;
use crate::filter::{Scalar, Test};
pub use crate::fuse::Fusion;
use crate::index::Hit;
pub use crate::index::{IndexError, SearchIndex, SearchQuery};
pub use crate::rerank::{RerankSettings, Reranker};

pub const MAX_TOP_K: u32 = 100;

#[derive(Debug, Clone)]
pub enum Request {
    /// With the HTTP caller, whose tenant decides what it may find (none for a direct invoke).
    Retrieve(Box<RetrieveRequest>, Option<Caller>),
    /// The answer workflow's merge of a compound question's retrievals: `{"merge": {…}}`.
    Merge(Box<MergeRequest>),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Retrieve(..) => "retrieve",
            Request::Merge(..) => "merge",
        }
    }
}

/// Checks what serde cannot: the query has words, `top_k` is in range, the filter is
/// well formed. Returns the checked filter.
pub fn check(request: &RetrieveRequest) -> Result<Option<Predicate>, ServiceError> {
    if request.query.trim().is_empty() {
        return Err(ServiceError::invalid_input("query", "the query is empty"));
    }
    if !(1..=MAX_TOP_K).contains(&request.top_k) {
        return Err(ServiceError::invalid_input("top_k", format!("must be 1 to {MAX_TOP_K}, got {}", request.top_k)));
    }
    if request.min_score.is_some_and(|s| !s.is_finite()) {
        return Err(ServiceError::invalid_input("min_score", "must be a finite number"));
    }
    let filter = request
        .filters
        .as_ref()
        .map(|filter| Predicate::compile(filter, "filters"))
        .transpose()
        .map_err(|e| ServiceError::invalid_input(e.field, e.reason))?;
    Ok(match &request.tenant {
        // The tenant's own documents only, whatever else the filter says.
        Some(tenant) => {
            let own = Predicate::Attribute {
                key: TENANT_ATTRIBUTE.to_owned(),
                test: Test::Equals(Scalar::String(tenant.clone())),
            };
            Some(Predicate::All(filter.into_iter().chain([own]).collect()))
        }
        None => filter,
    })
}

/// The results a response carries within the request's `max_bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct WithinBytes {
    pub results: Vec<RetrievedChunk>,
    /// The lowest-ranked, which did not fit.
    pub left_out: u32,
    /// Results kept without their metadata, which did not fit with it.
    pub metadata_left_out: u32,
}

/// The best-ranked `results` whose JSON fits in `max_bytes` (all when unset). A prefix: a
/// lower-ranked result never takes the place of a higher one. A result that fits only
/// without its metadata is kept without it: the passage is what an answer needs, and a
/// document may carry tens of KB of attributes, more than the whole budget.
pub fn within_bytes(results: Vec<RetrievedChunk>, max_bytes: Option<u32>) -> WithinBytes {
    let Some(max_bytes) = max_bytes else { return WithinBytes { results, left_out: 0, metadata_left_out: 0 } };
    // `[`, then each result and the `,` or `]` after it.
    // Each result's JSON and the `,` or `]` after it.
    let bytes =
        |result: &RetrievedChunk| serde_json::to_vec(result).map_or(usize::MAX, |json| json.len().saturating_add(1));
    let total = results.len();
    // `[`, then the results kept.
    let (mut used, mut kept, mut metadata_left_out) = (1usize, Vec::new(), 0u32);
    for mut result in results {
        let mut size = bytes(&result);
        if used.saturating_add(size) > max_bytes as usize {
            if result.metadata.is_empty() {
                break;
            }
            result.metadata.clear();
            size = bytes(&result);
            if used.saturating_add(size) > max_bytes as usize {
                break;
            }
            metadata_left_out += 1;
        }
        used += size;
        kept.push(result);
    }
    let left_out = u32::try_from(total - kept.len()).unwrap_or(u32::MAX);
    WithinBytes { results: kept, left_out, metadata_left_out }
}

pub struct Service {
    index: Arc<dyn SearchIndex>,
    embedder: Arc<dyn Embedder>,
    fusion: Fusion,
    feedback: VectorFeedback,
    reranker: Option<Arc<dyn Reranker>>,
    rerank: RerankSettings,
    tenancy: Tenancy,
}

impl Service {
    /// `embedder` must make the index's vectors (the same model, purpose `Queries`).
    pub fn new(index: Arc<dyn SearchIndex>, embedder: Arc<dyn Embedder>, fusion: Fusion) -> Self {
        Self {
            index,
            embedder,
            fusion,
            feedback: VectorFeedback::OFF,
            reranker: None,
            rerank: RerankSettings::default(),
            tenancy: Tenancy::single(),
        }
    }

    /// The same service answering each HTTP caller from its tenant's documents only.
    pub fn with_tenancy(self, tenancy: Tenancy) -> Self {
        Self { tenancy, ..self }
    }

    /// The same service with pseudo-relevance feedback on its query vectors.
    pub fn with_feedback(self, feedback: VectorFeedback) -> Self {
        Self { feedback, ..self }
    }

    /// The same service reranking with `reranker` as `settings` say (`settings.model` is
    /// what `reranker` runs).
    pub fn with_reranker(self, reranker: Arc<dyn Reranker>, settings: RerankSettings) -> Self {
        Self { reranker: Some(reranker), rerank: settings, ..self }
    }

    /// The reranker this request asks for: its own `rerank`, else the deployment's default.
    fn reranker_for(&self, request: &RetrieveRequest) -> Result<Option<&dyn Reranker>, ServiceError> {
        if !request.rerank.unwrap_or(self.rerank.by_default) {
            return Ok(None);
        }
        match &self.reranker {
            Some(reranker) => Ok(Some(reranker.as_ref())),
            None => Err(ServiceError::invalid_input(
                "rerank",
                "this deployment has no reranking model (SEAMS_RERANK_MODEL is not set)",
            )),
        }
    }

    pub async fn retrieve(&self, request: &RetrieveRequest) -> Result<RetrieveResponse, ServiceError> {
        let filter = check(request)?;
        let reranker = self.reranker_for(request)?;
        let vector = match request.search_mode {
            SearchMode::Keyword => None,
            SearchMode::Vector | SearchMode::Hybrid => {
                let mut vectors =
                    seams_embeddings::embed_all(self.embedder.as_ref(), &[request.query.as_str()]).await?;
                vectors.pop().map(|v| index::normalised(&v))
            }
        };
        let mut query = SearchQuery {
            text: request.query.clone(),
            vector,
            mode: request.search_mode,
            // The reranker can only promote what the search found: give it more to read.
            top_k: if reranker.is_some() {
                self.rerank.candidates.max(request.top_k as usize)
            } else {
                request.top_k as usize
            },
            filter,
            fusion: self.fusion,
        };
        if let Some(vector) = query.vector.take() {
            query.vector = Some(self.with_feedback_applied(&query, vector).await?);
        }
        let hits = self.search_parents_once(query, request.min_score).await?;
        let top_k = request.top_k as usize;
        let scored: Vec<(index::Hit, Option<f64>)> = match reranker {
            Some(reranker) => {
                let passages: Vec<&str> = hits.iter().map(|hit| hit.chunk.text.as_str()).collect();
                let relevance = reranker.rerank(&request.query, &passages, top_k).await?;
                rerank::reorder(hits, &relevance, top_k)?.into_iter().map(|(hit, score)| (hit, Some(score))).collect()
            }
            None => hits.into_iter().map(|hit| (hit, None)).collect(),
        };
        let results = scored
            .into_iter()
            .map(|(hit, rerank_score)| RetrievedChunk {
                document_id: hit.document_id,
                version: hit.version,
                chunk_id: hit.chunk.chunk_id,
                parent_chunk_id: hit.chunk.parent.map(|parent| parent.chunk_id),
                text: hit.chunk.text,
                score: hit.score,
                ranks: hit.ranks,
                rerank_score,
                metadata: hit
                    .chunk
                    .metadata
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
                    .collect(),
                citation: hit.chunk.citation,
                embedding: request.include_embeddings.then_some(hit.chunk.embedding),
            })
            .collect();
        let WithinBytes { results, left_out, metadata_left_out } = within_bytes(results, request.max_bytes);
        Ok(RetrieveResponse {
            schema_version: V1,
            results,
            search_mode: request.search_mode,
            embedding_model: self.embedder.model().model.clone(),
            rerank_model: reranker.map(|reranker| reranker.model().to_owned()),
            left_out,
            metadata_left_out,
        })
    }

    /// The hits at or above `min_score`, each parent (hierarchical chunking) once in place of
    /// its children. When children of one parent crowd the list, the search is asked for
    /// more, so `query.top_k` distinct passages come back where the index has them.
    async fn search_parents_once(
        &self,
        mut query: SearchQuery,
        min_score: Option<f64>,
    ) -> Result<Vec<Hit>, ServiceError> {
        let wanted = query.top_k;
        loop {
            let hits = self.index.search(&query).await?;
            // Nothing more to find: the index ran out, or the last hit is already below min_score.
            let exhausted = hits.len() < query.top_k
                || query.top_k >= wanted * parents::MAX_WIDENING
                || min_score.is_some_and(|min| hits.last().is_some_and(|hit| hit.score < min));
            let passages =
                parents::collapse(hits.into_iter().filter(|hit| min_score.is_none_or(|min| hit.score >= min)));
            if passages.len() >= wanted || exhausted {
                return Ok(passages.into_iter().take(wanted).collect());
            }
            query.top_k = parents::wider(query.top_k, passages.len(), wanted);
        }
    }

    /// The query vector moved towards the first hits of a search in the same mode (hybrid:
    /// the fused ranking, better than the vector list alone) and filter, when feedback is on.
    async fn with_feedback_applied(&self, query: &SearchQuery, vector: Vec<f32>) -> Result<Vec<f32>, ServiceError> {
        if !self.feedback.is_on() {
            return Ok(vector);
        }
        let first = SearchQuery {
            vector: Some(vector.clone()),
            mode: query.mode,
            top_k: self.feedback.chunks,
            ..query.clone()
        };
        let hits = self.index.search(&first).await?;
        let embeddings: Vec<&[f32]> = hits.iter().map(|hit| hit.chunk.embedding.as_slice()).collect();
        Ok(feedback::moved_query(&vector, &embeddings, self.feedback.weight))
    }
}

#[async_trait]
impl Function for Service {
    const SERVICE: &'static str = "retrieve";
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        match http::route_key(request).as_str() {
            seams_platform::routes::POST_RETRIEVE => {
                let body: RetrieveRequest = parse_json(&http::body_bytes(request)?)?;
                if body.tenant.is_some() {
                    return Err(refuse_callers_tenant("tenant"));
                }
                Ok(Request::Retrieve(Box::new(body), Some(Caller::of(request))))
            }
            other => Err(ServiceError::not_found(format!("retrieve has no route {other}"))),
        }
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::Direct(payload) if payload.get("merge").is_some() => {
                Ok(Request::Merge(Box::new(from_value::<MergeInvoke>(payload)?.merge)))
            }
            Trigger::Direct(payload) => Ok(Request::Retrieve(Box::new(from_value(payload)?), None)),
            _ => Err(ServiceError::invalid_input("event", "retrieve is triggered by HTTP or a direct invoke")),
        }
    }

    async fn serve(&self, request: Request, _correlation: CorrelationId) -> Result<Reply, ServiceError> {
        match request {
            Request::Retrieve(mut request, caller) => {
                match caller {
                    Some(caller) => {
                        request.tenant = self.tenancy.tenant_of(&caller)?.map(|tenant| tenant.as_str().to_owned());
                    }
                    // A trusted invoke (the answer workflow) that names no tenant would search
                    // them all: in a multi-tenant deployment that is a mistake, refused.
                    None if self.tenancy.is_multi_tenant() && request.tenant.is_none() => {
                        return Err(ServiceError::invalid_input("tenant", "required: this deployment is multi-tenant"));
                    }
                    None => {}
                }
                let started = std::time::Instant::now();
                let response = self.retrieve(&request).await?;
                tracing::info!(results = response.results.len(), mode = ?response.search_mode, "retrieved");
                let mode = serde_json::to_value(response.search_mode).ok().and_then(|m| m.as_str().map(str::to_owned));
                let dimension = mode.map(|mode| ("mode", mode));
                seams_platform::metrics::count("Searches", 1.0, dimension.clone());
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                seams_platform::metrics::record(
                    "SearchLatency",
                    elapsed,
                    seams_platform::metrics::Unit::Milliseconds,
                    dimension,
                );
                Reply::json(200, &response)
            }
            Request::Merge(request) => {
                if !(1..=100).contains(&request.top_k) {
                    return Err(ServiceError::invalid_input("merge.top_k", "must be 1 to 100"));
                }
                let sets: Vec<Vec<RetrievedChunk>> = request.sets.into_iter().map(|set| set.results).collect();
                // Each part keeps at least its best chunk, however small top_k is.
                let limit = (request.top_k as usize).max(sets.len());
                let results = fuse::merge_sets(&sets, self.fusion.k, limit);
                tracing::info!(sets = sets.len(), results = results.len(), "merged");
                Reply::json(200, &Merged { results })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, size: usize, metadata: usize) -> RetrievedChunk {
        serde_json::from_value(serde_json::json!({"document_id": "d", "version": 1, "chunk_id": id,
            "text": "é".repeat(size), "score": 0.5, "ranks": {},
            "metadata": if metadata > 0 { serde_json::json!({"notes": "m".repeat(metadata)}) } else { serde_json::json!({}) },
            "citation": {}}))
        .unwrap()
    }

    fn json_len(kept: &[RetrievedChunk]) -> usize {
        serde_json::to_vec(kept).unwrap().len()
    }

    #[test]
    fn results_within_bytes_are_the_longest_prefix_that_fits() {
        let results = vec![result("a", 50, 0), result("b", 400, 0), result("c", 10, 0), result("d", 200, 0)];
        let all = within_bytes(results.clone(), None);
        assert_eq!((all.results, all.left_out), (results.clone(), 0));
        for max_bytes in 0..=2_000u32 {
            let WithinBytes { results: kept, left_out, metadata_left_out } =
                within_bytes(results.clone(), Some(max_bytes));
            assert_eq!(kept[..], results[..kept.len()], "a prefix");
            assert_eq!((kept.len() + left_out as usize, metadata_left_out), (results.len(), 0));
            assert!(kept.is_empty() || json_len(&kept) <= max_bytes as usize, "{max_bytes}");
            if let Some(next) = results.get(kept.len()) {
                let one_more = [kept.clone(), vec![next.clone()]].concat();
                assert!(json_len(&one_more) > max_bytes as usize, "{max_bytes}: the next one would have fitted");
            }
        }
    }

    #[test]
    fn a_result_too_large_with_its_metadata_is_kept_without_it() {
        let results = vec![result("a", 50, 5_000), result("b", 50, 20), result("c", 50, 5_000)];
        let fitted = within_bytes(results.clone(), Some(1_000));
        let ids: Vec<&str> = fitted.results.iter().map(|r| r.chunk_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!((fitted.left_out, fitted.metadata_left_out), (0, 2));
        assert!(fitted.results[0].metadata.is_empty() && fitted.results[2].metadata.is_empty());
        assert_eq!(fitted.results[1], results[1], "a result that fits keeps its metadata");
        assert!(json_len(&fitted.results) <= 1_000);
        // Without metadata the first no longer fits either: nothing after it takes its place.
        let fitted = within_bytes(results.clone(), Some(100));
        assert_eq!((fitted.results.len(), fitted.left_out, fitted.metadata_left_out), (0, 3, 0));
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let request = |json: serde_json::Value| serde_json::from_value::<RetrieveRequest>(json).unwrap();
        let field = |json| check(&request(json)).unwrap_err().field;
        assert_eq!(field(serde_json::json!({"query": "  "})), Some("query".into()));
        assert_eq!(field(serde_json::json!({"query": "q", "top_k": 0})), Some("top_k".into()));
        assert_eq!(field(serde_json::json!({"query": "q", "top_k": 101})), Some("top_k".into()));
        let deep =
            serde_json::json!({"query": "q", "filters": {"orAll": [{"lessThan": {"key": "year", "value": "x"}}]}});
        assert_eq!(field(deep), Some("filters.orAll[0].lessThan.value".into()));
        assert!(check(&request(serde_json::json!({"query": "q", "top_k": 100}))).is_ok());
    }
}
