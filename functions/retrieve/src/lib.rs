//! The retrieve service: vector, keyword and hybrid search over its own index. Two
//! binaries share this library: the query API (`retrieve`) and the indexer
//! (`retrieve-indexer`, see [`indexer`]). Callers never learn which backend serves them:
//! both implement [`SearchIndex`].

#[cfg(feature = "aws")]
pub mod aws;
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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::decompose::{MergeInvoke, MergeRequest, Merged};
use seams_contracts::retrieve::{RetrieveRequest, RetrieveResponse, RetrievedChunk, SearchMode};
use seams_contracts::{CorrelationId, V1};
use seams_embeddings::config::EmbedderConfig;
use seams_embeddings::Embedder;
use seams_platform::aws::{AwsSettings, SdkConfig};
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::secrets::SecretCache;
use seams_platform::tenancy::{refuse_callers_tenant, Caller, Tenancy, TENANT_ATTRIBUTE};
use seams_platform::trigger::Trigger;
use seams_platform::{http, ServiceError};

#[cfg(feature = "aws")]
pub use crate::aws::{open_configured, open_index};
pub use crate::feedback::VectorFeedback;
pub use crate::filter::Predicate;
use crate::filter::{Scalar, Test};
pub use crate::fuse::Fusion;
use crate::index::Hit;
pub use crate::index::{IndexError, SearchIndex, SearchQuery};
use crate::manifest::LogPolicy;
use crate::postgres::{Connection, PostgresSettings};
pub use crate::rerank::{RerankSettings, Reranker};

pub const MAX_TOP_K: u32 = 100;

/// Where the PostgreSQL connection comes from.
#[derive(Clone, PartialEq)]
pub enum DatabaseSource {
    /// `DATABASE_URL` (`postgres://user:password@host:5432/db?sslmode=require`).
    Url(String),
    /// A Secrets Manager secret (name or ARN) in the RDS format (`host`, `port`, `username`,
    /// `password`, `dbname`).
    Secret(String),
}

impl std::fmt::Debug for DatabaseSource {
    // The URL may carry the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSource::Url(_) => f.write_str("Url(<hidden>)"),
            DatabaseSource::Secret(arn) => write!(f, "Secret({arn})"),
        }
    }
}

/// Where the index lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// Embedded SQLite; deployed, its base and segments live in retrieve's own bucket.
    Sqlite { index_bucket: String },
    /// PostgreSQL with pgvector, in `schema`; vector searches use an HNSW beam of at least
    /// `ef_search`, or probe `ivfflat_probes_percent` of an IVFFlat index's lists; hybrid
    /// searches rank their two lists at once on two connections if `hybrid_lists_at_once`.
    Postgres {
        database: DatabaseSource,
        schema: String,
        ca_file: Option<PathBuf>,
        ef_search: usize,
        ivfflat_probes_percent: usize,
        hybrid_lists_at_once: bool,
    },
}

impl Backend {
    fn from_env(env: &Env) -> Self {
        match env.choice("SEAMS_SEARCH_BACKEND", &["sqlite", "postgres"], "sqlite").as_str() {
            "postgres" => {
                let database = match (env.optional("DATABASE_URL"), env.optional("SEAMS_DATABASE_SECRET")) {
                    (_, Some(arn)) => DatabaseSource::Secret(arn),
                    (Some(url), None) => {
                        if let Err(error) = url.parse::<tokio_postgres::Config>() {
                            env.invalid("DATABASE_URL", "<hidden>", error.to_string());
                        }
                        DatabaseSource::Url(url)
                    }
                    (None, None) => DatabaseSource::Url(env.required("DATABASE_URL")),
                };
                let schema = env.optional("SEAMS_DATABASE_SCHEMA").unwrap_or_else(|| "seams".into());
                if !postgres::valid_schema(&schema) {
                    env.invalid("SEAMS_DATABASE_SCHEMA", &schema, "lower-case letters, digits and _".into());
                }
                Backend::Postgres {
                    database,
                    schema,
                    ca_file: env.optional("SEAMS_DATABASE_CA_FILE").map(PathBuf::from),
                    ef_search: ef_search_from_env(env),
                    ivfflat_probes_percent: ivfflat_probes_percent_from_env(env),
                    hybrid_lists_at_once: hybrid_lists_at_once_from_env(env),
                }
            }
            _ => Backend::Sqlite { index_bucket: env.required("SEAMS_INDEX_BUCKET") },
        }
    }
}

/// `SEAMS_HNSW_EF_SEARCH`: the smallest HNSW beam of pgvector searches; a bad value is
/// recorded in `env`.
pub fn ef_search_from_env(env: &Env) -> usize {
    let most = postgres::HNSW_MAX_EF_SEARCH;
    let expected = format!("1 to {most}, pgvector's widest beam");
    one_to_most_from_env(env, "SEAMS_HNSW_EF_SEARCH", postgres::HNSW_EF_SEARCH, most, &expected)
}

/// `SEAMS_IVFFLAT_PROBES_PERCENT`: the share of an IVFFlat index's lists pgvector searches
/// probe; a bad value is recorded in `env`.
pub fn ivfflat_probes_percent_from_env(env: &Env) -> usize {
    one_to_most_from_env(env, "SEAMS_IVFFLAT_PROBES_PERCENT", postgres::IVFFLAT_PROBES_PERCENT, 100, "1 to 100")
}

/// `SEAMS_POSTGRES_HYBRID_AT_ONCE`: whether pgvector hybrid searches rank their vector and
/// keyword lists at once, on two connections (decision 41); a bad value is recorded in `env`.
pub fn hybrid_lists_at_once_from_env(env: &Env) -> bool {
    env.flag("SEAMS_POSTGRES_HYBRID_AT_ONCE", false)
}

/// A number from 1 to `most` in `variable`, else `default`; a bad value is recorded in `env`.
fn one_to_most_from_env(env: &Env, variable: &str, default: usize, most: usize, expected: &str) -> usize {
    let value = env.parse_or(variable, default);
    if !(1..=most).contains(&value) {
        env.invalid(variable, &value.to_string(), expected.to_owned());
    }
    value
}

/// The largest write that may ride in the embedded index's manifest: each query function
/// reads the manifest on every refresh, and it carries up to a fanout's worth of them.
const MAX_INDEX_INLINE_BYTES: u64 = 64 << 10;

/// Search tuning: change it here, never in callers.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub fusion: Fusion,
    /// Pseudo-relevance feedback for vector and hybrid searches.
    pub feedback: VectorFeedback,
    pub rerank: RerankSettings,
    /// Query functions look for new writes to the embedded index at most this often.
    pub index_refresh: Duration,
    /// A write to the embedded index of at most this many bytes rides in its manifest (0:
    /// never; readers older than inline writes cannot read them, decision 0034).
    pub index_inline_bytes: u64,
    /// Where the embedded index's local copy lives (Lambda's /tmp).
    pub index_dir: PathBuf,
    /// Whose documents an HTTP caller may find (`SEAMS_TENANT_CLAIM`).
    pub tenancy: Tenancy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fusion: Fusion::default(),
            feedback: VectorFeedback::OFF,
            rerank: RerankSettings::default(),
            index_refresh: Duration::from_secs(30),
            index_inline_bytes: LogPolicy::DEFAULT.inline_max_bytes,
            index_dir: std::env::temp_dir().join("seams-index"),
            tenancy: Tenancy::single(),
        }
    }
}

impl Settings {
    /// The tuning variables (fusion, feedback, index refresh and directory) over the
    /// defaults; bad values are recorded in `env`. Hybrid's vector weight and vector feedback
    /// follow the `embedder` unless set: vectors that carry no meaning get neither.
    pub fn from_env(env: &Env, embedder: &EmbedderConfig) -> Self {
        let defaults = Settings::default();
        let vector_weight = if embedder.carries_meaning() { defaults.fusion.vector_weight } else { 0.0 };
        let feedback = if embedder.carries_meaning() { VectorFeedback::DEFAULT } else { VectorFeedback::OFF };
        let feedback = VectorFeedback {
            chunks: env.parse_or("SEAMS_VECTOR_FEEDBACK_CHUNKS", feedback.chunks),
            weight: env.parse_or("SEAMS_VECTOR_FEEDBACK_WEIGHT", feedback.weight),
        };
        if !(feedback.weight >= 0.0 && feedback.chunks <= 100) {
            env.invalid(
                "SEAMS_VECTOR_FEEDBACK_WEIGHT",
                &feedback.weight.to_string(),
                "the weight must be zero or more, and at most 100 chunks".into(),
            );
        }
        let fusion = Fusion {
            k: env.parse_or("SEAMS_RRF_K", defaults.fusion.k),
            vector_weight: env.parse_or("SEAMS_HYBRID_VECTOR_WEIGHT", vector_weight),
            keyword_weight: env.parse_or("SEAMS_HYBRID_KEYWORD_WEIGHT", defaults.fusion.keyword_weight),
            candidates: env.parse_or("SEAMS_HYBRID_CANDIDATES", defaults.fusion.candidates),
        };
        if !(fusion.k >= 0.0 && fusion.vector_weight >= 0.0 && fusion.keyword_weight >= 0.0) {
            env.invalid("SEAMS_RRF_K", &fusion.k.to_string(), "k and the hybrid weights must be zero or more".into());
        }
        let rerank = RerankSettings {
            model: env.optional("SEAMS_RERANK_MODEL").filter(|model| model != "none"),
            by_default: env.parse_or("SEAMS_RERANK", false),
            candidates: env.parse_or("SEAMS_RERANK_CANDIDATES", defaults.rerank.candidates),
        };
        if rerank.by_default && rerank.model.is_none() {
            env.invalid("SEAMS_RERANK", "true", "reranking by default needs a model in SEAMS_RERANK_MODEL".into());
        }
        if !(1..=rerank::MAX_CANDIDATES).contains(&rerank.candidates) {
            env.invalid(
                "SEAMS_RERANK_CANDIDATES",
                &rerank.candidates.to_string(),
                format!("1 to {}, the most one rerank request takes", rerank::MAX_CANDIDATES),
            );
        }
        let index_inline_bytes = env.parse_or("SEAMS_INDEX_INLINE_BYTES", defaults.index_inline_bytes);
        if index_inline_bytes > MAX_INDEX_INLINE_BYTES {
            env.invalid(
                "SEAMS_INDEX_INLINE_BYTES",
                &index_inline_bytes.to_string(),
                format!(
                    "at most {MAX_INDEX_INLINE_BYTES}: every manifest carries up to {} such writes",
                    LogPolicy::DEFAULT.merge_fanout
                ),
            );
        }
        Self {
            fusion,
            feedback,
            rerank,
            index_inline_bytes,
            index_refresh: Duration::from_secs(env.parse_or("SEAMS_INDEX_REFRESH_SECONDS", 30)),
            index_dir: env.optional("SEAMS_INDEX_DIR").map_or(defaults.index_dir, PathBuf::from),
            tenancy: Tenancy::from_env(env),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    pub backend: Backend,
    pub embedder: EmbedderConfig,
    /// How long a database secret's value is kept (`SEAMS_SECRET_TTL_SECONDS`).
    pub secret_ttl: Duration,
    pub settings: Settings,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let embedder = EmbedderConfig::from_env(&env);
        let config = Self {
            aws: AwsSettings::from_env(&env),
            backend: Backend::from_env(&env),
            secret_ttl: seams_platform::secrets::ttl_from_env(&env),
            settings: Settings::from_env(&env, &embedder),
            embedder,
        };
        env.finish().map(|()| config)
    }
}

/// Which binary opens the index: the indexer also creates and migrates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Query,
    Indexer,
}

/// How the index reaches the database. A secret is read once here, so a deployment with a
/// wrong one fails at init rather than at the first search.
pub async fn postgres_settings(
    sdk: &SdkConfig,
    database: &DatabaseSource,
    schema: &str,
    ca_file: Option<PathBuf>,
    secret_ttl: Duration,
) -> Result<PostgresSettings, ServiceError> {
    let connection = match database {
        DatabaseSource::Url(url) => {
            Connection::Fixed(url.parse().map_err(|e| ServiceError::invalid_input("DATABASE_URL", format!("{e}")))?)
        }
        DatabaseSource::Secret(arn) => {
            let cache = Arc::new(SecretCache::secrets_manager(sdk, secret_ttl));
            let connection = Connection::Secret { cache, secret_id: arn.clone() };
            connection.config().await.map_err(|e| match e {
                IndexError::Invalid(detail) => ServiceError::invalid_input("SEAMS_DATABASE_SECRET", detail),
                other => ServiceError::from(other),
            })?;
            connection
        }
    };
    Ok(PostgresSettings { connection, schema: schema.to_owned(), ca_file })
}

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
        Ok(RetrieveResponse {
            schema_version: V1,
            results,
            search_mode: request.search_mode,
            embedding_model: self.embedder.model().model.clone(),
            rerank_model: reranker.map(|reranker| reranker.model().to_owned()),
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

    /// The settings `pairs` configure, with the one variable the default backend needs.
    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigReport> {
        let mut pairs = pairs.to_vec();
        pairs.push(("SEAMS_INDEX_BUCKET", "idx"));
        Config::from_env(Env::from_pairs(pairs)).map(|config| config.settings)
    }

    #[test]
    fn hybrid_weighs_vectors_only_when_they_carry_meaning() {
        let weight = |pairs: &[(&str, &str)]| settings(pairs).unwrap().fusion.vector_weight;
        assert_eq!(weight(&[]), 0.0, "the hashing embedder's vectors would only add noise");
        assert_eq!(weight(&[("SEAMS_EMBEDDER", "bedrock")]), 1.0);
        assert_eq!(weight(&[("SEAMS_HYBRID_VECTOR_WEIGHT", "0.3")]), 0.3, "an explicit weight wins");
    }

    #[test]
    fn small_index_writes_ride_in_the_manifest_unless_turned_off() {
        let inline = |pairs: &[(&str, &str)]| settings(pairs).map(|s| s.index_inline_bytes);
        assert_eq!(inline(&[]).unwrap(), 4096);
        assert_eq!(inline(&[("SEAMS_INDEX_INLINE_BYTES", "0")]).unwrap(), 0, "off while old readers run");
        for bad in ["-1", "65537"] {
            let report = inline(&[("SEAMS_INDEX_INLINE_BYTES", bad)]).unwrap_err().to_string();
            assert!(report.contains("SEAMS_INDEX_INLINE_BYTES"), "{report}");
        }
        assert_eq!(inline(&[("SEAMS_INDEX_INLINE_BYTES", "65536")]).unwrap(), 65536);
    }

    #[test]
    fn vector_feedback_follows_the_embedder_unless_set() {
        let feedback = |pairs: &[(&str, &str)]| settings(pairs).map(|s| s.feedback);
        assert_eq!(feedback(&[]).unwrap(), VectorFeedback::OFF);
        assert_eq!(feedback(&[("SEAMS_EMBEDDER", "bedrock")]).unwrap(), VectorFeedback::DEFAULT);
        let set = feedback(&[("SEAMS_VECTOR_FEEDBACK_CHUNKS", "5"), ("SEAMS_VECTOR_FEEDBACK_WEIGHT", "0.25")]);
        assert_eq!(set.unwrap(), VectorFeedback { chunks: 5, weight: 0.25 });
        let bad = feedback(&[("SEAMS_VECTOR_FEEDBACK_WEIGHT", "-1")]).unwrap_err().to_string();
        assert!(bad.contains("SEAMS_VECTOR_FEEDBACK_WEIGHT"), "{bad}");
    }

    #[test]
    fn reranking_needs_a_model_and_a_candidate_count_bedrock_takes() {
        let rerank = |pairs: &[(&str, &str)]| settings(pairs).map(|s| s.rerank);
        assert_eq!(rerank(&[]).unwrap(), RerankSettings::default(), "off unless a model is named");
        assert_eq!(rerank(&[("SEAMS_RERANK_MODEL", "none")]).unwrap().model, None);
        let on = rerank(&[("SEAMS_RERANK_MODEL", "cohere.rerank-v3-5:0"), ("SEAMS_RERANK", "true")]).unwrap();
        assert_eq!((on.model.as_deref(), on.by_default), (Some("cohere.rerank-v3-5:0"), true));
        let orphan = rerank(&[("SEAMS_RERANK", "true")]).unwrap_err().to_string();
        assert!(orphan.contains("SEAMS_RERANK_MODEL"), "{orphan}");
        let too_many = rerank(&[("SEAMS_RERANK_MODEL", "amazon.rerank-v1:0"), ("SEAMS_RERANK_CANDIDATES", "1001")]);
        assert!(too_many.unwrap_err().to_string().contains("SEAMS_RERANK_CANDIDATES"));
    }

    #[test]
    fn each_backend_names_what_it_needs() {
        let report = Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "postgres")])).unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: DATABASE_URL is not set");
        let report = Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "sqlite")])).unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: SEAMS_INDEX_BUCKET is not set");
        let config = Config::from_env(Env::from_pairs([("SEAMS_INDEX_BUCKET", "idx")])).unwrap();
        assert_eq!(config.backend, Backend::Sqlite { index_bucket: "idx".into() });
    }

    #[test]
    fn hybrid_lists_at_once_is_off_unless_asked_and_refuses_what_is_not_a_flag() {
        let backend_with = |value: Option<&str>| {
            let mut pairs = vec![("SEAMS_SEARCH_BACKEND", "postgres"), ("DATABASE_URL", "postgres://db/seams")];
            pairs.extend(value.map(|value| ("SEAMS_POSTGRES_HYBRID_AT_ONCE", value)));
            Config::from_env(Env::from_pairs(pairs)).map(|config| config.backend)
        };
        let at_once = |value| match backend_with(value).unwrap() {
            Backend::Postgres { hybrid_lists_at_once, .. } => hybrid_lists_at_once,
            Backend::Sqlite { .. } => unreachable!("asked for postgres"),
        };
        assert!(!at_once(None));
        assert!(at_once(Some("true")));
        assert!(!at_once(Some("false")));
        let report = backend_with(Some("twice")).unwrap_err().to_string();
        assert!(report.contains("SEAMS_POSTGRES_HYBRID_AT_ONCE"), "{report}");
    }

    #[test]
    fn pgvectors_search_widths_have_defaults_and_take_pgvectors_ranges() {
        // (variable, the default, a value taken, values refused)
        let widths = [
            ("SEAMS_HNSW_EF_SEARCH", postgres::HNSW_EF_SEARCH, 100, ["0", "1001", "-5", "wide"]),
            ("SEAMS_IVFFLAT_PROBES_PERCENT", postgres::IVFFLAT_PROBES_PERCENT, 10, ["0", "101", "-5", "a third"]),
        ];
        for (variable, default, taken, refused) in widths {
            let backend_with = |value: Option<&str>| {
                let mut pairs = vec![("SEAMS_SEARCH_BACKEND", "postgres"), ("DATABASE_URL", "postgres://db/seams")];
                pairs.extend(value.map(|value| (variable, value)));
                Config::from_env(Env::from_pairs(pairs)).map(|config| config.backend)
            };
            let width = |backend: Backend| match backend {
                Backend::Postgres { ef_search, .. } if variable == "SEAMS_HNSW_EF_SEARCH" => ef_search,
                Backend::Postgres { ivfflat_probes_percent, .. } => ivfflat_probes_percent,
                Backend::Sqlite { .. } => 0,
            };
            assert_eq!(width(backend_with(None).unwrap()), default, "{variable}");
            assert_eq!(width(backend_with(Some(&taken.to_string())).unwrap()), taken, "{variable}");
            for refused in refused {
                let report = backend_with(Some(refused)).unwrap_err().to_string();
                assert!(report.contains(variable), "{variable}={refused}: {report}");
            }
        }
    }

    #[test]
    fn a_database_url_never_appears_in_errors_or_debug_output() {
        let secret = "postgres://seams:hunter2@db:5432/seams?sslmode=bogus";
        let report =
            Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "postgres"), ("DATABASE_URL", secret)]))
                .unwrap_err()
                .to_string();
        assert!(report.contains("DATABASE_URL") && !report.contains("hunter2"), "{report}");
        let config = Config::from_env(Env::from_pairs([
            ("SEAMS_SEARCH_BACKEND", "postgres"),
            ("DATABASE_URL", "postgres://seams:hunter2@db/seams"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
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
