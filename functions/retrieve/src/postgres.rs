//! The PostgreSQL + pgvector index: a cosine index over half-precision vectors (HNSW, or
//! IVFFlat after a big bulk load), a generated `tsvector` with GIN for keywords ranked by BM25
//! from statistics the indexer keeps (no extension needed, so it runs on RDS and Aurora), and
//! hybrid search as one SQL statement fusing both lists with reciprocal rank fusion (as
//! pgvector's hybrid-search examples do). Filtered vector queries use iterative scans, so a
//! selective filter still returns `top_k`.
//!
//! Everything lives in one schema (`SEAMS_DATABASE_SCHEMA`, default `seams`), created by
//! migrations the indexer runs. Settings are `SET LOCAL` and statements stay prepared only
//! with hybrid's lists at once, so RDS Proxy can otherwise multiplex connections.
//!
//! This file holds the index and its connections; the rest, one question each:
//! `connect` (settings, secret, TLS), `schema` (migrations), `write` (one document), `bulk`
//! (many at once), `filter_sql`, `keyword_sql` (BM25 top-k), `search`, `at_once` (hybrid's
//! lists on several connections) and `vector_parts` (a vector index in parts).

#[macro_use]
mod schema;
mod at_once;
mod bulk;
mod connect;
mod filter_sql;
mod keyword_sql;
mod search;
mod vector_parts;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use seams_contracts::process::EmbeddingModel;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_postgres::{Client, GenericClient, Statement};

pub use at_once::ListsAtOnce;
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

/// The most vector index parts hybrid's lists at once rank on connections of their own; a
/// schema with more has its vector and keyword lists ranked whole, one on each of two.
const MAX_PARTS_AT_ONCE: u64 = 4;

/// A connection, when it was last used, and the statements prepared on it.
struct Session {
    client: Client,
    used: Instant,
    /// Named statements by their SQL: only hybrid's lists at once prepare them
    /// ([`PostgresIndex::with_hybrid_lists_at_once`]), as RDS Proxy pins a connection that
    /// does. At most [`MAX_PREPARED`]; past that, all are closed and prepared again as used.
    prepared: HashMap<String, Statement>,
}

/// The most statements a connection keeps prepared: each filter's shape is a statement.
const MAX_PREPARED: usize = 64;

/// The statement prepared for `sql` on the connection `cache` belongs to, prepared now (by
/// `client`, that connection or a transaction on it) if it is not yet.
async fn prepared(
    cache: &mut HashMap<String, Statement>,
    client: &impl GenericClient,
    sql: &str,
) -> Result<Statement, tokio_postgres::Error> {
    if let Some(statement) = cache.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql).await?;
    if cache.len() >= MAX_PREPARED {
        cache.clear(); // dropping a statement closes it on the server
    }
    cache.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

impl std::ops::Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// [`PostgresIndex::others_running`] before any search has looked.
const NOT_SEEN: u64 = u64::MAX;

/// A search index in one schema of a PostgreSQL database with pgvector.
pub struct PostgresIndex {
    settings: PostgresSettings,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    model: EmbeddingModel,
    /// One connection per function instance (Lambda serves one request at a time), with when
    /// it was last used; reopened when the server or a proxy closed it, or it sat idle.
    client: Mutex<Option<Session>>,
    /// More connections, for hybrid's lists at once while the first ranks a list too: one for
    /// the keyword list, or one for each later part of a vector index in parts. Only opened
    /// with [`PostgresIndex::with_hybrid_lists_at_once`], and only as many as a search uses.
    more_clients: Vec<Mutex<Option<Session>>>,
    /// How many parts the schema's vector index had at the last search (0: not searched
    /// yet), for hybrid's lists at once to know how many lists to start.
    vector_parts: AtomicU64,
    /// When hybrid ranks its lists at once, on two connections, fused here; else one statement.
    hybrid_lists_at_once: ListsAtOnce,
    /// How many other queries of the database role the last search saw running
    /// ([`NOT_SEEN`] before one has looked), for [`ListsAtOnce::WhileIdle`].
    others_running: AtomicU64,
    /// Keyword candidates come from the query's rarest words while their postings stay
    /// under this many ([`keyword_sql::bm25_top_sql`]), with a filter or without.
    rare_postings: keyword_sql::RarePostings,
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
            more_clients: (1..MAX_PARTS_AT_ONCE).map(|_| Mutex::new(None)).collect(),
            vector_parts: AtomicU64::new(0),
            hybrid_lists_at_once: ListsAtOnce::Never,
            others_running: AtomicU64::new(NOT_SEEN),
            rare_postings: keyword_sql::RarePostings::default(),
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

    /// The same index with another budget of postings for keyword candidates, with a filter
    /// or without (the ranking is the same at any budget; only the work differs).
    pub fn with_rare_postings(self, rare_postings: i64) -> Self {
        let rare_postings = keyword_sql::RarePostings { unfiltered: rare_postings, filtered: rare_postings };
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

    /// The same index ranking a hybrid query's lists at once on two connections, one part of a
    /// vector index in parts on each (else the vector list on one, the keyword list on the
    /// other), and fusing them here, when `hybrid_lists_at_once` says; else in one statement on
    /// one connection (the default). At once answers sooner while the database has a core to
    /// spare for each connection, holds two connections per function instance and prepares its
    /// statements on them (decisions 41, 46, 47).
    pub fn with_hybrid_lists_at_once(self, hybrid_lists_at_once: ListsAtOnce) -> Self {
        Self { hybrid_lists_at_once, ..self }
    }

    /// How many other queries of the database role the last search saw running, if one has looked.
    pub fn others_running(&self) -> Option<u64> {
        Some(self.others_running.load(Ordering::Relaxed)).filter(|&seen| seen != NOT_SEEN)
    }

    /// Keeps a search's count of the other queries running; `None` when it did not count.
    fn saw_others_running(&self, others_running: Option<i64>) {
        if let Some(seen) = others_running {
            let seen = u64::try_from(seen).unwrap_or(0).min(NOT_SEEN - 1);
            self.others_running.store(seen, Ordering::Relaxed);
        }
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

    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Session>, IndexError> {
        self.connection(&self.client).await
    }

    async fn connection<'a>(
        &'a self,
        slot: &'a Mutex<Option<Session>>,
    ) -> Result<tokio::sync::MappedMutexGuard<'a, Session>, IndexError> {
        let mut slot = slot.lock().await;
        let usable = |session: &Session| !session.client.is_closed() && session.used.elapsed() < IDLE_RECONNECT;
        if !slot.as_ref().is_some_and(usable) {
            let config = self.settings.connection.config().await?;
            let (client, connection) = config.connect(self.tls.clone()).await.map_err(unavailable)?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(%error, "postgres connection closed");
                }
            });
            *slot = Some(Session { client, used: Instant::now(), prepared: HashMap::new() });
        }
        tokio::sync::MutexGuard::try_map(slot, |slot| {
            let session = slot.as_mut()?;
            session.used = Instant::now();
            Some(session)
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
