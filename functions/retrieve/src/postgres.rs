//! The PostgreSQL + pgvector index: a cosine index over half-precision vectors (HNSW, or
//! IVFFlat after a big bulk load), a generated `tsvector` with GIN for keywords ranked by BM25
//! from statistics the indexer keeps (no extension needed, so it runs on RDS and Aurora), and
//! hybrid search as one SQL statement fusing both lists with reciprocal rank fusion (as
//! pgvector's hybrid-search examples do). Filtered vector queries use iterative scans, so a
//! selective filter still returns `top_k`.
//!
//! Everything lives in one schema (`SEAMS_DATABASE_SCHEMA`, default `seams`), created by
//! migrations the indexer runs. Statements are unnamed and settings are `SET LOCAL`, so
//! RDS Proxy can multiplex connections.
//!
//! This file holds the index and its connections; the rest, one question each:
//! `connect` (settings, secret, TLS), `schema` (migrations), `write` (one document), `bulk`
//! (many at once), `filter_sql`, `keyword_sql` (BM25 top-k) and `search`.

#[macro_use]
mod schema;
mod bulk;
mod connect;
mod filter_sql;
mod keyword_sql;
mod search;
mod write;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use seams_contracts::process::EmbeddingModel;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_postgres::Client;

pub use bulk::{ivfflat_lists, IVFFLAT_MIN_CHUNKS};
pub use connect::{valid_schema, Connection, PostgresSettings};
pub use filter_sql::filter_condition;
pub use keyword_sql::tsquery;
pub use search::{HNSW_EF_SEARCH, HNSW_MAX_EF_SEARCH, IVFFLAT_PROBES_PERCENT};

use crate::index::{Hit, IndexError, IndexedDocument, SearchIndex, SearchQuery, Upserted};

/// A connection idle this long is replaced before use. The Aurora option closes sessions idle
/// for 60 s (`idle_session_timeout`, template.yaml), so that the connection a frozen Lambda
/// instance holds does not keep the cluster from pausing; replacing it first means a request
/// never meets a connection the server has already closed.
const IDLE_RECONNECT: Duration = Duration::from_secs(50);

/// A search index in one schema of a PostgreSQL database with pgvector.
pub struct PostgresIndex {
    settings: PostgresSettings,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    model: EmbeddingModel,
    /// One connection per function instance (Lambda serves one request at a time), with when
    /// it was last used; reopened when the server or a proxy closed it, or it sat idle.
    client: Mutex<Option<(Client, Instant)>>,
    /// A second connection, for hybrid's keyword list while the first ranks by vector: only
    /// opened with [`PostgresIndex::with_hybrid_lists_at_once`].
    keyword_client: Mutex<Option<(Client, Instant)>>,
    /// Hybrid as its two lists at once, on two connections, fused here; else one statement.
    hybrid_lists_at_once: bool,
    /// Keyword candidates come from the query's rarest words while their postings stay
    /// under this many ([`keyword_sql::bm25_top_sql`]).
    rare_postings: i64,
    /// `maintenance_work_mem` for a bulk load's index builds, in MiB: HNSW builds its graph in
    /// memory while it fits, several times faster than on disk.
    build_memory_mib: u32,
    /// The smallest HNSW beam (`hnsw.ef_search`) a vector search uses.
    ef_search: usize,
    /// The smallest bulk load that builds IVFFlat ([`PostgresIndex::bulk_load`]).
    ivfflat_min_chunks: u64,
    /// The share of an IVFFlat index's lists a vector search probes, 1 to 100 percent.
    ivfflat_probes_percent: usize,
}

fn unavailable(error: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(format!("postgres: {error}"))
}

fn database_error(error: tokio_postgres::Error) -> IndexError {
    // The server's words: the client's own text for its errors is only "db error". Not its
    // detail, which may quote a row's values. Callers never see either (a problem's detail
    // stays private); logs and dead-letter causes do.
    let cause = match error.as_db_error() {
        Some(refusal) => format!("{} {}: {}", refusal.severity(), refusal.code().code(), refusal.message()),
        None => error.to_string(),
    };
    // A query the database refuses as ill-typed (say, a vector of another size) is not
    // going to succeed on retry; everything else (connection, timeout) might.
    match error.code().map(|c| c.code()) {
        Some(code) if code.starts_with("22") || code.starts_with("42") => {
            IndexError::Invalid(format!("postgres: {cause}"))
        }
        _ => unavailable(cause),
    }
}

impl PostgresIndex {
    /// Connects lazily: nothing is dialled until the first query.
    pub fn new(settings: PostgresSettings, model: EmbeddingModel) -> Result<Self, IndexError> {
        if !valid_schema(&settings.schema) {
            return Err(IndexError::Invalid(format!("{:?} is not a schema name (a-z, 0-9, _)", settings.schema)));
        }
        let tls = connect::tls(settings.ca_file.as_deref())?;
        Ok(Self {
            settings,
            tls,
            model,
            client: Mutex::new(None),
            keyword_client: Mutex::new(None),
            hybrid_lists_at_once: false,
            rare_postings: keyword_sql::RARE_POSTINGS,
            build_memory_mib: bulk::BUILD_MEMORY_MIB,
            ef_search: HNSW_EF_SEARCH,
            ivfflat_min_chunks: IVFFLAT_MIN_CHUNKS,
            ivfflat_probes_percent: IVFFLAT_PROBES_PERCENT,
        })
    }

    /// The index an existing schema holds, with the embedding model it was built for: for
    /// maintenance, which embeds nothing (`seams upgrade-index`).
    pub async fn open_existing(settings: PostgresSettings) -> Result<Self, IndexError> {
        let index = Self::new(settings, EmbeddingModel { model: String::new(), dims: 1 })?;
        let stored = {
            let client = index.client().await?;
            match client.query_opt(&index.sql("SELECT value FROM {schema}.meta WHERE key = 'embedding'"), &[]).await {
                Ok(row) => row.map(|row| row.get::<_, String>(0)),
                Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => None,
                Err(error) => return Err(database_error(error)),
            }
        };
        let stored = stored
            .ok_or_else(|| IndexError::Invalid(format!("schema {} holds no seams index", index.settings.schema)))?;
        let model = serde_json::from_str(&stored).map_err(unavailable)?;
        Ok(Self { model, ..index })
    }

    /// The same index with another budget of postings for keyword candidates (the ranking is
    /// the same at any budget; only the work differs).
    pub fn with_rare_postings(self, rare_postings: i64) -> Self {
        Self { rare_postings, ..self }
    }

    /// The same index with another smallest HNSW beam, within pgvector's 1 to 1000: wider
    /// finds more of the true nearest vectors, narrower answers sooner.
    pub fn with_ef_search(self, ef_search: usize) -> Self {
        Self { ef_search: ef_search.clamp(1, HNSW_MAX_EF_SEARCH), ..self }
    }

    /// The same index probing another share of an IVFFlat index's lists, 1 to 100 percent:
    /// more finds more of the true nearest vectors, fewer answers sooner.
    pub fn with_ivfflat_probes_percent(self, ivfflat_probes_percent: usize) -> Self {
        Self { ivfflat_probes_percent: ivfflat_probes_percent.clamp(1, 100), ..self }
    }

    /// The same index ranking a hybrid query's two lists at once, each on a connection of its
    /// own, and fusing them here (`true`), or in one statement on one connection (`false`, the
    /// default). At once answers sooner while the database has a core to spare for each list,
    /// and holds two connections per function instance (decision 41).
    pub fn with_hybrid_lists_at_once(self, hybrid_lists_at_once: bool) -> Self {
        Self { hybrid_lists_at_once, ..self }
    }

    /// The same index with another smallest bulk load that builds IVFFlat rather than HNSW
    /// (`u64::MAX`: never).
    pub fn with_ivfflat_min_chunks(self, ivfflat_min_chunks: u64) -> Self {
        Self { ivfflat_min_chunks, ..self }
    }

    /// The same index with another `maintenance_work_mem` for bulk loads' index builds (about
    /// 2.5 KiB per 384-dimension vector keeps HNSW's graph in memory).
    pub fn with_build_memory_mib(self, build_memory_mib: u32) -> Self {
        Self { build_memory_mib: build_memory_mib.max(64), ..self }
    }

    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Client>, IndexError> {
        self.connection(&self.client).await
    }

    async fn connection<'a>(
        &'a self,
        slot: &'a Mutex<Option<(Client, Instant)>>,
    ) -> Result<tokio::sync::MappedMutexGuard<'a, Client>, IndexError> {
        let mut slot = slot.lock().await;
        let usable = |(client, used): &(Client, Instant)| !client.is_closed() && used.elapsed() < IDLE_RECONNECT;
        if !slot.as_ref().is_some_and(usable) {
            let config = self.settings.connection.config().await?;
            let (client, connection) = config.connect(self.tls.clone()).await.map_err(unavailable)?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(%error, "postgres connection closed");
                }
            });
            *slot = Some((client, Instant::now()));
        }
        tokio::sync::MutexGuard::try_map(slot, |slot| {
            slot.as_mut().map(|(client, used)| {
                *used = Instant::now();
                client
            })
        })
        .map_err(|_| unavailable("no connection"))
    }

    /// The schema the index lives in.
    pub fn schema(&self) -> &str {
        &self.settings.schema
    }

    fn sql(&self, template: &str) -> String {
        template.replace("{schema}", &self.settings.schema).replace("{dims}", &self.model.dims.to_string())
    }
}

#[async_trait]
impl SearchIndex for PostgresIndex {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    async fn upsert(&self, document: &IndexedDocument) -> Result<Upserted, IndexError> {
        self.upsert_document(document).await
    }

    async fn delete(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError> {
        self.delete_document(document_id, deleted_at).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        self.search_chunks(query).await
    }
}
