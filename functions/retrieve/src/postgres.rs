//! The PostgreSQL + pgvector index: an HNSW cosine index over half-precision vectors, a generated
//! `tsvector` with GIN for keywords ranked by BM25 from statistics the indexer keeps (no
//! extension needed, so it runs on RDS and Aurora), and hybrid search as one SQL statement fusing both
//! lists with reciprocal rank fusion (as pgvector's hybrid-search examples do). Filtered
//! vector queries use `hnsw.iterative_scan`, so a selective filter still returns `top_k`.
//!
//! Everything lives in one schema (`SEAMS_DATABASE_SCHEMA`, default `seams`), created by
//! migrations the indexer runs. Statements are unnamed and settings are `SET LOCAL`, so
//! RDS Proxy can multiplex connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pgvector::Vector;
use seams_contracts::process::{EmbeddingModel, ParentChunk};
use seams_contracts::retrieve::{Citation, Ranks, SearchMode};
use seams_platform::secrets::SecretCache;
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::filter::{Predicate, Test};
use crate::index::{
    check_model, normalised, Hit, IndexError, IndexedChunk, IndexedDocument, SearchIndex, SearchQuery, Upserted,
};

/// The vector index: HNSW over half-precision copies of the vectors, with a denser graph
/// than pgvector's default (m 16, ef_construction 64). At 100k chunks of hashing vectors it
/// lifts the bench's recall@10 from 0.91 to 0.97, and 0.88 to 0.96 under a 10% filter, at the
/// same query time; it builds about 2.5 times as slowly (bench/RESULTS.md, decision 37). Half precision halves
/// the graph's memory and allows up to 4,000 dimensions (2,000 for `vector`). Searches
/// order by this expression and re-rank what it returns by the exact distance. It replaces
/// `chunks_embedding_idx` (`vector`, pgvector's defaults), which searches still use where it
/// is the one there ([`PostgresIndex::upgrade_vector_index`]).
macro_rules! vector_index {
    () => {
        "CREATE INDEX IF NOT EXISTS chunks_embedding_half_idx ON {schema}.chunks
             USING hnsw ((embedding::halfvec({dims})) halfvec_cosine_ops) WITH (m = 32, ef_construction = 100);
         DROP INDEX IF EXISTS {schema}.chunks_embedding_idx;"
    };
}

/// Each migration runs once, in order, in one transaction with the others pending.
/// `{schema}` and `{dims}` are filled in from configuration.
const MIGRATIONS: [&str; 5] = ["
CREATE TABLE {schema}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE {schema}.documents (
    document_id text PRIMARY KEY,
    version integer NOT NULL,
    processed_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE TABLE {schema}.chunks (
    chunk_id text PRIMARY KEY,
    document_id text NOT NULL,
    version integer NOT NULL,
    ordinal integer NOT NULL,
    text text NOT NULL,
    citation jsonb NOT NULL,
    metadata jsonb NOT NULL,
    embedding vector({dims}) NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX ON {schema}.chunks (document_id);
-- Before decision 37 the vector index was made here; migration 5 makes it now, so a model of
-- more than 2,000 dimensions (HNSW's most over `vector`) can have a schema.
CREATE INDEX ON {schema}.chunks USING gin (tsv);
", "
-- BM25's statistics, kept by the indexer: a chunk's length in lexemes, each lexeme's
-- document frequency, and the corpus's size. Managed PostgreSQL has no BM25 extension.
CREATE FUNCTION {schema}.lexeme_count(tsvector) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer FROM unnest($1) $$;
ALTER TABLE {schema}.chunks ADD COLUMN length integer;
UPDATE {schema}.chunks SET length = {schema}.lexeme_count(tsv);
ALTER TABLE {schema}.chunks ALTER COLUMN length SET NOT NULL;
CREATE TABLE {schema}.terms (lexeme text PRIMARY KEY, df bigint NOT NULL);
INSERT INTO {schema}.terms (lexeme, df)
    SELECT u.lexeme, count(*) FROM {schema}.chunks c, unnest(c.tsv) u GROUP BY u.lexeme;
CREATE TABLE {schema}.corpus (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), chunks bigint NOT NULL, length bigint NOT NULL);
INSERT INTO {schema}.corpus (chunks, length) SELECT count(*), coalesce(sum(length), 0) FROM {schema}.chunks;
", "
-- Hierarchical chunking: a child chunk names its parent, whose text is stored once.
ALTER TABLE {schema}.chunks ADD COLUMN parent_id text;
CREATE TABLE {schema}.parents (parent_id text PRIMARY KEY, document_id text NOT NULL, text text NOT NULL);
CREATE INDEX ON {schema}.parents (document_id);
", "
-- MaxScore's bound on what a word adds to a chunk's score: the most times it occurs in one
-- chunk and the shortest chunk holding it. Writes only ever widen them (a removed chunk
-- leaves them as they were), so they stay bounds without a recount.
ALTER TABLE {schema}.terms ADD COLUMN max_tf integer, ADD COLUMN min_length integer;
UPDATE {schema}.terms t SET max_tf = s.max_tf, min_length = s.min_length
    FROM (SELECT u.lexeme, max(coalesce(array_length(u.positions, 1), 1)) AS max_tf, min(c.length) AS min_length
          FROM {schema}.chunks c, unnest(c.tsv) u GROUP BY u.lexeme) s
    WHERE s.lexeme = t.lexeme;
", concat!("
-- The denser vector index over half precision. Built here only while the table is small
-- enough to build well within the indexer's timeout (60 s; 5,000 random vectors built in
-- about 10 s on 2 cores); a bigger one keeps its index, which searches go on using, until
-- `seams upgrade-index` builds the new one.
DO $$ BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM {schema}.chunks LIMIT 5001) c) <= 5000 THEN
        ", vector_index!(), "
    END IF;
END $$;
")];

/// A bulk load's chunks arrive by COPY here first; the insert into `chunks` then counts each
/// one's lexemes, as `upsert` does.
const BULK_STAGING: &str = "
CREATE TEMP TABLE seams_bulk_chunks (
    chunk_id text, document_id text, version integer, ordinal integer, text text,
    citation jsonb, metadata jsonb, embedding vector, parent_id text
) ON COMMIT DROP;
";

/// The indexes a bulk load builds once after the load, rather than row by row.
const BULK_DROP_INDEXES: &str = "
DROP INDEX IF EXISTS {schema}.chunks_embedding_idx;
DROP INDEX IF EXISTS {schema}.chunks_embedding_half_idx;
DROP INDEX IF EXISTS {schema}.chunks_tsv_idx;
";

/// After the COPY: the chunks, BM25's statistics in one pass, the indexes (with the memory
/// [`PostgresIndex::with_build_memory_mib`] gives their builds; `{vector_index}` is
/// [`bulk_vector_index`]), and the planner's statistics, which autovacuum would otherwise
/// gather only later: without them the first searches after a load plan badly
/// (bench/RESULTS.md).
const BULK_COUNT_AND_INDEX: &str = "
INSERT INTO {schema}.chunks (chunk_id, document_id, version, ordinal, text, citation, metadata, embedding, parent_id, length)
    SELECT chunk_id, document_id, version, ordinal, text, citation, metadata, embedding, parent_id,
           {schema}.lexeme_count(to_tsvector('english', text))
    FROM seams_bulk_chunks;
DELETE FROM {schema}.terms;
INSERT INTO {schema}.terms (lexeme, df, max_tf, min_length)
    SELECT u.lexeme, count(*), max(coalesce(array_length(u.positions, 1), 1)), min(c.length)
    FROM {schema}.chunks c, unnest(c.tsv) u GROUP BY u.lexeme;
UPDATE {schema}.corpus SET chunks = s.chunks, length = s.length
    FROM (SELECT count(*) AS chunks, coalesce(sum(length), 0) AS length FROM {schema}.chunks) s;
SET LOCAL maintenance_work_mem = '{build_memory}MB';
{vector_index}
CREATE INDEX chunks_tsv_idx ON {schema}.chunks USING gin (tsv);
ANALYZE {schema}.chunks, {schema}.terms, {schema}.documents;
";

/// A bulk load of at least this many chunks builds IVFFlat rather than HNSW, unless told
/// otherwise ([`PostgresIndex::with_ivfflat_min_chunks`]; decision 40). At 100k chunks of the
/// bench's hashing vectors IVFFlat built in seconds where HNSW took about 90, and searched as
/// fast at the same recall. Smaller, with fewer lists, it lost recall (0.92 filtered at 50k,
/// where HNSW kept 0.97) while HNSW builds in under a minute (bench/RESULTS.md, issue 19).
pub const IVFFLAT_MIN_CHUNKS: u64 = 100_000;

/// The share of an IVFFlat index's lists a search probes, in percent, unless told otherwise
/// ([`PostgresIndex::with_ivfflat_probes_percent`], `SEAMS_IVFFLAT_PROBES_PERCENT`). On the
/// bench's hashing vectors at 100k chunks, 40% reached recall@10 0.971–0.979 unfiltered and
/// 0.967–0.975 with a 10% filter over three builds; 34% reached 0.948–0.970 and 0.951–0.961
/// over eight, once under the goal of 0.95, as k-means learns other lists each time; a
/// quarter 0.94 / 0.93 (bench/RESULTS.md, issue 19). Learned embeddings cluster and reach the
/// same recall probing fewer.
pub const IVFFLAT_PROBES_PERCENT: usize = 40;

/// pgvector's advice for an IVFFlat index's lists: a thousandth of the rows up to 1M rows,
/// their square root beyond.
pub fn ivfflat_lists(chunks: u64) -> u64 {
    if chunks <= 1_000_000 {
        (chunks / 1000).max(1)
    } else {
        chunks.isqrt()
    }
}

/// The vector index a bulk load of `chunks` builds: `vector_index!`'s HNSW graph below
/// `ivfflat_min_chunks`, else IVFFlat over the same expression and under the same name, so
/// searches and migrations treat both alike. IVFFlat learns its lists from the rows, so it
/// is only built where there are rows to learn from.
fn bulk_vector_index(chunks: u64, ivfflat_min_chunks: u64) -> String {
    if chunks < ivfflat_min_chunks {
        return vector_index!().to_owned();
    }
    format!(
        "CREATE INDEX chunks_embedding_half_idx ON {{schema}}.chunks
             USING ivfflat ((embedding::halfvec({{dims}})) halfvec_cosine_ops) WITH (lists = {});",
        ivfflat_lists(chunks)
    )
}

/// BM25's parameters: Lucene's defaults, as FTS5 and bm25s use them.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// Serialises migrations across every schema of one database (CREATE EXTENSION included).
const MIGRATION_LOCK: i64 = 0x5EA3_5000;

/// The smallest HNSW beam a vector search uses unless told otherwise
/// ([`PostgresIndex::with_ef_search`], `SEAMS_HNSW_EF_SEARCH`). pgvector's default is 40. This
/// is wide for the bench's hashing vectors, HNSW's worst case (bench/RESULTS.md, issue 19);
/// learned embeddings cluster and reach the same recall at a narrower, faster beam.
pub const HNSW_EF_SEARCH: usize = 800;

/// pgvector's widest beam.
pub const HNSW_MAX_EF_SEARCH: usize = 1000;

/// How many more vector candidates than a list needs a search takes by the index's
/// half-precision order, before it ranks them by the exact distance (bench/RESULTS.md,
/// issue 19: at 100k chunks 10 gave the same answers as twice the candidates).
const EXACT_CUT_MARGIN: usize = 10;

/// Where the database is and how to reach it.
#[derive(Clone)]
pub struct PostgresSettings {
    pub connection: Connection,
    pub schema: String,
    /// PEM certificates trusted besides the public roots (RDS's own CA, for direct
    /// connections; RDS Proxy's certificates are public).
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("connection", &self.connection)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// How a connection is opened: with fixed settings (`DATABASE_URL`), or with an RDS secret
/// read each time one is opened, through a cache that keeps it for `SEAMS_SECRET_TTL_SECONDS`,
/// so a rotated password applies without a cold start (open connections stay valid).
#[derive(Clone)]
#[allow(clippy::large_enum_variant, reason = "one per function instance, built at init")]
pub enum Connection {
    Fixed(tokio_postgres::Config),
    Secret { cache: Arc<SecretCache>, secret_id: String },
}

impl std::fmt::Debug for Connection {
    // The settings hold the password: show where, never how.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Fixed(config) => {
                write!(f, "Fixed({:?}/{:?})", config.get_hosts(), config.get_dbname().unwrap_or_default())
            }
            Connection::Secret { secret_id, .. } => write!(f, "Secret({secret_id})"),
        }
    }
}

impl Connection {
    /// The settings to open a connection with now.
    pub async fn config(&self) -> Result<tokio_postgres::Config, IndexError> {
        match self {
            Connection::Fixed(config) => Ok(config.clone()),
            Connection::Secret { cache, secret_id } => {
                let text = cache.get(secret_id).await.map_err(|e| match e.name {
                    seams_contracts::ErrorName::Transient => unavailable(e),
                    _ => IndexError::Invalid(e.to_string()),
                })?;
                let secret: DatabaseSecret = serde_json::from_str(&text)
                    .map_err(|e| IndexError::Invalid(format!("{secret_id} is not an RDS secret: {e}")))?;
                Ok(secret.config())
            }
        }
    }
}

/// The JSON Secrets Manager keeps for an RDS database.
#[derive(serde::Deserialize)]
struct DatabaseSecret {
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    username: String,
    password: String,
    #[serde(default)]
    dbname: Option<String>,
}

fn default_port() -> u16 {
    5432
}

impl DatabaseSecret {
    fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config.host(&self.host).port(self.port).user(&self.username).password(&self.password);
        config.dbname(self.dbname.as_deref().unwrap_or("postgres"));
        config
    }
}

/// A schema name safe to write into SQL.
pub fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// A connection idle this long is replaced before use. The Aurora option closes sessions idle
/// for 60 s (`idle_session_timeout`, template.yaml), so that the connection a frozen Lambda
/// instance holds does not keep the cluster from pausing; replacing it first means a request
/// never meets a connection the server has already closed.
const IDLE_RECONNECT: Duration = Duration::from_secs(50);

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
    /// under this many ([`bm25_top_sql`]).
    rare_postings: i64,
    /// `maintenance_work_mem` for a bulk load's index builds, in MiB: HNSW builds its graph in
    /// memory while it fits, several times faster than on disk.
    build_memory_mib: u32,
    /// The smallest HNSW beam (`hnsw.ef_search`) a vector search uses.
    ef_search: usize,
    /// The smallest bulk load that builds IVFFlat ([`bulk_vector_index`]).
    ivfflat_min_chunks: u64,
    /// The share of an IVFFlat index's lists a vector search probes, 1 to 100 percent.
    ivfflat_probes_percent: usize,
}

/// A bulk load's `maintenance_work_mem` unless told otherwise: enough for HNSW's graph of
/// 100k 384-dimension vectors, and within what a small database instance has.
const BUILD_MEMORY_MIB: u32 = 1024;

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

fn tls(ca_file: Option<&std::path::Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, IndexError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let invalid =
            |e: &dyn std::fmt::Display| IndexError::Invalid(format!("SEAMS_DATABASE_CA_FILE {}: {e}", path.display()));
        let mut added = 0;
        for certificate in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| invalid(&e))? {
            roots.add(certificate.map_err(|e| invalid(&e))?).map_err(|e| invalid(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(invalid(&"no PEM certificates in the file"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(unavailable)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PostgresIndex {
    /// Connects lazily: nothing is dialled until the first query.
    pub fn new(settings: PostgresSettings, model: EmbeddingModel) -> Result<Self, IndexError> {
        if !valid_schema(&settings.schema) {
            return Err(IndexError::Invalid(format!("{:?} is not a schema name (a-z, 0-9, _)", settings.schema)));
        }
        let tls = tls(settings.ca_file.as_deref())?;
        Ok(Self {
            settings,
            tls,
            model,
            client: Mutex::new(None),
            keyword_client: Mutex::new(None),
            hybrid_lists_at_once: false,
            rare_postings: RARE_POSTINGS,
            build_memory_mib: BUILD_MEMORY_MIB,
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

    /// Creates or upgrades the schema, and refuses one built for another embedding model.
    pub async fn migrate(&self) -> Result<(), IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(database_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(database_error)?;
        tx.batch_execute(&self.sql(
            "CREATE EXTENSION IF NOT EXISTS vector;
             CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());",
        ))
        .await
        .map_err(database_error)?;
        let applied: i32 = tx
            .query_one(&self.sql("SELECT coalesce(max(version), 0) FROM {schema}.migrations"), &[])
            .await
            .map_err(database_error)?
            .get(0);
        for (number, migration) in MIGRATIONS.iter().enumerate() {
            let version = i32::try_from(number + 1).unwrap_or(i32::MAX);
            if version > applied {
                tx.batch_execute(&self.sql(migration)).await.map_err(database_error)?;
                tx.execute(&self.sql("INSERT INTO {schema}.migrations (version) VALUES ($1)"), &[&version])
                    .await
                    .map_err(database_error)?;
            }
        }
        let configured = serde_json::to_string(&self.model).map_err(unavailable)?;
        tx.execute(
            &self.sql("INSERT INTO {schema}.meta (key, value) VALUES ('embedding', $1) ON CONFLICT (key) DO NOTHING"),
            &[&configured],
        )
        .await
        .map_err(database_error)?;
        let stored: String = tx
            .query_one(&self.sql("SELECT value FROM {schema}.meta WHERE key = 'embedding'"), &[])
            .await
            .map_err(database_error)?
            .get(0);
        if stored != configured {
            return Err(IndexError::Invalid(format!(
                "schema {} holds vectors of {stored}; this function embeds with {configured}",
                self.settings.schema
            )));
        }
        tx.commit().await.map_err(database_error)
    }

    /// Builds `vector_index!` where migration 5 left the older vector index (a table too big
    /// to build it within the indexer's timeout). Searches go on meanwhile, with the older
    /// index until this commits; writes wait for it. Returns whether it built.
    pub async fn upgrade_vector_index(&self) -> Result<bool, IndexError> {
        self.migrate().await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(database_error)?;
        let current: bool = tx
            .query_one(&self.sql("SELECT to_regclass('{schema}.chunks_embedding_half_idx') IS NOT NULL"), &[])
            .await
            .map_err(database_error)?
            .get(0);
        if current {
            return Ok(false);
        }
        let build = format!("SET LOCAL maintenance_work_mem = '{}MB'; {}", self.build_memory_mib, vector_index!());
        tx.batch_execute(&self.sql(&build)).await.map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        Ok(true)
    }

    /// Loads many documents into an empty index at once: the vector and keyword indexes are
    /// dropped, the chunks copied in (`COPY … FROM STDIN BINARY`), BM25's statistics counted
    /// in one pass, and the indexes built after the load, in one transaction. Building HNSW
    /// once over every vector is far cheaper than inserting into it row by row
    /// (bench/RESULTS.md). A document the index's tombstones or held versions make stale is
    /// left out, as `upsert` would; of one document given twice, the newest version is kept.
    /// Returns the chunks loaded.
    pub async fn bulk_load(&self, documents: &[IndexedDocument]) -> Result<u64, IndexError> {
        for document in documents {
            check_model(&self.model, document)?;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(database_error)?;
        // Single-document writers wait for the load, and searches see all of it or none.
        tx.batch_execute(
            &self.sql(
                "LOCK TABLE {schema}.documents, {schema}.chunks, {schema}.terms, {schema}.corpus IN EXCLUSIVE MODE",
            ),
        )
        .await
        .map_err(database_error)?;
        let empty: bool = tx
            .query_one(&self.sql("SELECT NOT EXISTS (SELECT 1 FROM {schema}.chunks)"), &[])
            .await
            .map_err(database_error)?
            .get(0);
        if !empty {
            return Err(IndexError::Invalid(format!(
                "a bulk load fills an empty index; schema {} already holds chunks (write them one document at a time)",
                self.settings.schema
            )));
        }
        let documents = self.loadable(&tx, documents).await?;
        tx.batch_execute(&self.sql(BULK_DROP_INDEXES)).await.map_err(database_error)?;
        tx.batch_execute(BULK_STAGING).await.map_err(database_error)?;
        // pgvector's type has no fixed OID: ask the server for it.
        let vector_type = tx.prepare("SELECT $1::vector").await.map_err(database_error)?.params()[0].clone();
        let sink = tx.copy_in("COPY seams_bulk_chunks FROM STDIN BINARY").await.map_err(database_error)?;
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::INT4,
            Type::TEXT,
            Type::JSONB,
            Type::JSONB,
            vector_type,
            Type::TEXT,
        ];
        let writer = BinaryCopyInWriter::new(sink, &types);
        tokio::pin!(writer);
        let mut chunks = 0u64;
        let (mut parent_ids, mut parent_documents, mut parent_texts) = (Vec::new(), Vec::new(), Vec::new());
        for document in &documents {
            let version = i32::try_from(document.version).map_err(|e| IndexError::Invalid(e.to_string()))?;
            // The same conversion `upsert` makes, row by row here rather than as arrays.
            let mut columns = ChunkColumns::default();
            for chunk in &document.chunks {
                columns.push(chunk)?;
            }
            for i in 0..columns.chunk_ids.len() {
                let row: [&(dyn ToSql + Sync); 9] = [
                    &columns.chunk_ids[i],
                    &document.document_id,
                    &version,
                    &columns.ordinals[i],
                    &columns.texts[i],
                    &columns.citations[i],
                    &columns.metadata[i],
                    &columns.embeddings[i],
                    &columns.parent_ids[i],
                ];
                writer.as_mut().write(&row).await.map_err(database_error)?;
                chunks += 1;
            }
            for (parent_id, text) in columns.parents {
                parent_ids.push(parent_id);
                parent_documents.push(document.document_id.clone());
                parent_texts.push(text);
            }
        }
        writer.as_mut().finish().await.map_err(database_error)?;
        tx.execute(
            &self.sql(
                "INSERT INTO {schema}.parents (parent_id, document_id, text)
                 SELECT parent_id, document_id, text FROM unnest($1::text[], $2::text[], $3::text[]) AS p (parent_id, document_id, text)
                 ON CONFLICT (parent_id) DO NOTHING",
            ),
            &[&parent_ids, &parent_documents, &parent_texts],
        )
        .await
        .map_err(database_error)?;
        let ids: Vec<&str> = documents.iter().map(|d| d.document_id.as_str()).collect();
        let versions: Vec<i32> = documents.iter().map(|d| i32::try_from(d.version).unwrap_or(i32::MAX)).collect();
        let processed: Vec<DateTime<Utc>> = documents.iter().map(|d| d.processed_at).collect();
        tx.execute(
            &self.sql(
                "INSERT INTO {schema}.documents (document_id, version, processed_at)
                 SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[])
                 ON CONFLICT (document_id) DO UPDATE SET version = excluded.version, processed_at = excluded.processed_at, deleted_at = NULL",
            ),
            &[&ids, &versions, &processed],
        )
        .await
        .map_err(database_error)?;
        let count_and_index = self.sql(
            &BULK_COUNT_AND_INDEX
                .replace("{build_memory}", &self.build_memory_mib.to_string())
                .replace("{vector_index}", &bulk_vector_index(chunks, self.ivfflat_min_chunks)),
        );
        tx.batch_execute(&count_and_index).await.map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        Ok(chunks)
    }

    /// The documents a bulk load writes: the newest version of each, unless the index holds
    /// a newer one or a later deletion.
    async fn loadable<'a>(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        documents: &'a [IndexedDocument],
    ) -> Result<Vec<&'a IndexedDocument>, IndexError> {
        let mut newest: HashMap<&str, &IndexedDocument> = HashMap::new();
        for document in documents {
            let kept = newest.entry(&document.document_id).or_insert(document);
            if document.version >= kept.version {
                *kept = document;
            }
        }
        let ids: Vec<&str> = newest.keys().copied().collect();
        let held = tx
            .query(
                &self
                    .sql("SELECT document_id, version, deleted_at FROM {schema}.documents WHERE document_id = ANY($1)"),
                &[&ids],
            )
            .await
            .map_err(database_error)?;
        for row in held {
            let (id, version, deleted_at): (String, i32, Option<DateTime<Utc>>) = (row.get(0), row.get(1), row.get(2));
            let stale = newest.get(id.as_str()).is_some_and(|document| {
                i64::from(version) > i64::from(document.version)
                    || deleted_at.is_some_and(|deleted| deleted > document.processed_at)
            });
            if stale {
                newest.remove(id.as_str());
            }
        }
        // In the order given, so a load is repeatable.
        Ok(documents
            .iter()
            .filter(|d| newest.get(d.document_id.as_str()).is_some_and(|kept| std::ptr::eq(*kept, *d)))
            .collect())
    }

    /// Deletes the document's chunks and returns what they added to BM25's statistics.
    async fn remove_chunks(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        document_id: &str,
    ) -> Result<TermCounts, IndexError> {
        let row = tx
            .query_one(
                &self.sql(
                    "WITH removed AS (DELETE FROM {schema}.chunks WHERE document_id = $1 RETURNING tsv, length),
                          lexemes AS (SELECT u.lexeme, count(*) AS df FROM removed r, unnest(r.tsv) u GROUP BY u.lexeme)
                     SELECT (SELECT count(*) FROM removed), (SELECT coalesce(sum(length), 0)::bigint FROM removed),
                            coalesce((SELECT array_agg(lexeme) FROM lexemes), '{}'),
                            coalesce((SELECT array_agg(df) FROM lexemes), '{}')",
                ),
                &[&document_id],
            )
            .await
            .map_err(database_error)?;
        tx.execute(&self.sql("DELETE FROM {schema}.parents WHERE document_id = $1"), &[&document_id])
            .await
            .map_err(database_error)?;
        Ok(TermCounts { chunks: row.get(0), length: row.get(1), lexemes: row.get(2), document_frequencies: row.get(3) })
    }

    /// Brings BM25's statistics from `before` (what the document's old chunks counted) to
    /// what its chunks count now, and widens its words' MaxScore bounds (also when a word's
    /// document frequency is unchanged). Term rows are locked in lexeme order by one
    /// statement, then the corpus row, so concurrent indexers cannot deadlock each other.
    async fn count_terms(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        document_id: &str,
        before: TermCounts,
    ) -> Result<(), IndexError> {
        tx.execute(
            &self.sql(
                "INSERT INTO {schema}.terms (lexeme, df, max_tf, min_length)
                 SELECT lexeme, sum(df), max(max_tf), min(min_length) FROM (
                     SELECT u.lexeme, count(*) AS df, max(coalesce(array_length(u.positions, 1), 1)) AS max_tf,
                            min(c.length) AS min_length
                     FROM {schema}.chunks c, unnest(c.tsv) u WHERE c.document_id = $1 GROUP BY u.lexeme
                     UNION ALL SELECT lexeme, -df, NULL, NULL FROM unnest($2::text[], $3::bigint[]) AS old (lexeme, df)
                 ) delta GROUP BY lexeme HAVING sum(df) <> 0 OR max(max_tf) IS NOT NULL ORDER BY lexeme
                 ON CONFLICT (lexeme) DO UPDATE SET df = {schema}.terms.df + excluded.df,
                     max_tf = greatest({schema}.terms.max_tf, excluded.max_tf),
                     min_length = least({schema}.terms.min_length, excluded.min_length)",
            ),
            &[&document_id, &before.lexemes, &before.document_frequencies],
        )
        .await
        .map_err(database_error)?;
        tx.execute(
            &self.sql(
                "UPDATE {schema}.corpus SET chunks = corpus.chunks + now.chunks - $2, length = corpus.length + now.length - $3
                 FROM (SELECT count(*) AS chunks, coalesce(sum(length), 0) AS length FROM {schema}.chunks WHERE document_id = $1) now",
            ),
            &[&document_id, &before.chunks, &before.length],
        )
        .await
        .map_err(database_error)?;
        Ok(())
    }
}

/// What one document's chunks add to BM25's statistics.
struct TermCounts {
    chunks: i64,
    length: i64,
    lexemes: Vec<String>,
    document_frequencies: Vec<i64>,
}

/// A document's chunks as one array per column, for a single `unnest` insert.
#[derive(Default)]
struct ChunkColumns {
    chunk_ids: Vec<String>,
    ordinals: Vec<i32>,
    texts: Vec<String>,
    citations: Vec<Value>,
    metadata: Vec<Value>,
    embeddings: Vec<Vector>,
    parent_ids: Vec<Option<String>>,
    /// Each parent once, in order.
    parents: Vec<(String, String)>,
}

impl ChunkColumns {
    fn push(&mut self, chunk: &IndexedChunk) -> Result<(), IndexError> {
        self.chunk_ids.push(chunk.chunk_id.clone());
        self.ordinals.push(i32::try_from(chunk.ordinal).map_err(|e| IndexError::Invalid(e.to_string()))?);
        self.texts.push(chunk.text.clone());
        self.citations.push(serde_json::to_value(&chunk.citation).map_err(|e| IndexError::Invalid(e.to_string()))?);
        self.metadata.push(Value::Object(chunk.metadata.clone()));
        self.embeddings.push(Vector::from(normalised(&chunk.embedding)));
        self.parent_ids.push(chunk.parent.as_ref().map(|p| p.chunk_id.clone()));
        if let Some(parent) = &chunk.parent {
            if self.parents.last().is_none_or(|(id, _)| *id != parent.chunk_id) {
                self.parents.push((parent.chunk_id.clone(), parent.text.clone()));
            }
        }
        Ok(())
    }
}

/// Bind parameters, numbered as they are added.
#[derive(Default)]
struct Params(Vec<Box<dyn ToSql + Sync + Send>>);

impl Params {
    fn add(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// The SQL condition `predicate` becomes and how many values it binds: what a query sends
/// PostgreSQL, for the fuzz target that checks no caller's text is ever part of the SQL.
pub fn filter_condition(predicate: &Predicate) -> (String, usize) {
    let mut params = Params::default();
    let sql = filter_sql(predicate, &mut params);
    (sql, params.0.len())
}

/// The predicate as a SQL condition on `metadata` (jsonb), meaning what
/// [`Predicate::matches`] means: jsonb equality compares numbers numerically, and every
/// test is `coalesce(.., false)` so a missing attribute never turns a result into NULL.
fn filter_sql(predicate: &Predicate, params: &mut Params) -> String {
    match predicate {
        Predicate::All(parts) if parts.is_empty() => "true".into(),
        Predicate::Any(parts) if parts.is_empty() => "false".into(),
        Predicate::All(parts) => {
            format!("({})", parts.iter().map(|p| filter_sql(p, params)).collect::<Vec<_>>().join(" AND "))
        }
        Predicate::Any(parts) => {
            format!("({})", parts.iter().map(|p| filter_sql(p, params)).collect::<Vec<_>>().join(" OR "))
        }
        Predicate::Attribute { key, test } => {
            let attribute = format!("(metadata -> {})", params.add(key.clone()));
            let condition = match test {
                Test::Equals(value) => format!("{attribute} = {}::jsonb", params.add(value.to_json())),
                Test::NotEquals(value) => format!("{attribute} IS DISTINCT FROM {}::jsonb", params.add(value.to_json())),
                Test::Compare(comparison, value) => format!(
                    "CASE WHEN jsonb_typeof({attribute}) = 'number' THEN ({attribute} #>> '{{}}')::float8 {} {}::float8 ELSE false END",
                    comparison.sql(),
                    params.add(*value)
                ),
                Test::In(values) => format!(
                    "{attribute} IN (SELECT jsonb_array_elements({}::jsonb))",
                    params.add(Value::Array(values.iter().map(|v| v.to_json()).collect()))
                ),
                Test::NotIn(values) => format!(
                    "NOT coalesce({attribute} IN (SELECT jsonb_array_elements({}::jsonb)), false)",
                    params.add(Value::Array(values.iter().map(|v| v.to_json()).collect()))
                ),
                Test::StartsWith(prefix) => format!(
                    "CASE WHEN jsonb_typeof({attribute}) = 'string' THEN starts_with({attribute} #>> '{{}}', {}::text) ELSE false END",
                    params.add(prefix.clone())
                ),
                Test::ListContains(value) => format!(
                    "CASE WHEN jsonb_typeof({attribute}) = 'array' THEN {attribute} @> jsonb_build_array({}::jsonb) ELSE false END",
                    params.add(value.to_json())
                ),
                Test::StringContains(needle) => {
                    let needle = params.add(needle.clone());
                    format!(
                        "CASE jsonb_typeof({attribute})
                           WHEN 'string' THEN strpos({attribute} #>> '{{}}', {needle}::text) > 0
                           WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({attribute}) m
                                                     WHERE jsonb_typeof(m) = 'string' AND strpos(m #>> '{{}}', {needle}::text) > 0)
                           ELSE false END"
                    )
                }
            };
            format!("coalesce({condition}, false)")
        }
    }
}

/// The user's words as a tsquery: any of them may match. Words are letters and digits only,
/// so nothing the user types is read as tsquery syntax.
pub fn tsquery(text: &str) -> Option<String> {
    let words = crate::keywords::query_words(text);
    (!words.is_empty()).then(|| words.join(" | "))
}

/// The `n` best chunks by BM25 (score, then chunk id) among those that pass `filter` and match
/// any of the query's lexemes. `tsquery` and `words` are bind parameters: [`tsquery`]'s output
/// and the same words joined by spaces.
///
/// Common words would make every chunk a candidate, so this is MaxScore in two steps:
/// 1. The rarest words, those whose postings together stay under `rare_postings`, give
///    candidates through the GIN index; their `n`-th score is a floor, θ, on the answer's.
/// 2. Each word's most it can add to a chunk (its bound: BM25 at its largest count in one
///    chunk and its shortest chunk) is summed over the words outside the rare ones, smallest
///    first, then over the rare ones. The words whose running sum stays under θ cannot lift
///    a chunk that has none of the others into the top `n`; the others are essential.
///
/// If every essential word is a rare one, step 1's list is the answer. Otherwise the chunks
/// to score are those holding an essential word and a set of words whose bounds reach θ: a
/// chunk's score is at most the sum of its words' bounds. The sets are spelled out as a
/// tsquery, so the GIN index leaves out the rest before any row is read. Words in more than
/// half the chunks, and any past the eight of largest bounds, are not spelled: they are
/// counted as held by every chunk (their long postings would cost the index more than they
/// narrow, and eight words make at most 255 sets). Either way the ranking is BM25's over all
/// matches.
fn bm25_top_sql(tsquery: &str, words: &str, filter: &str, n: i64, rare_postings: i64) -> String {
    // Term frequencies come from the chunk's `tsvector`: `setweight` marks the query's lexemes
    // and `ts_filter` keeps only them, so a long chunk is not unnested whole. The one-row `q`
    // and `stats` are read as values, not joined: joined, the planner materialised every
    // candidate's terms once more (8–19% of the keyword half at 100k, bench/RESULTS.md).
    // Each word's part is rounded to a multiple of 2^-36 before the sum. A part is under 2^6
    // (an idf under 29 in any corpus under 10^12 chunks, times 2.2), so it has at most 42
    // significant bits, and sums of up to 2,048 of them are exact in a double: any order of
    // the words gives the same sum, so two chunks of equal scores tie exactly, and the tie
    // goes by chunk id. Unrounded, the order the plan's join gave the words could change the
    // last bit and rank a tie either way (bench/RESULTS.md). A fixed order (`ORDER BY` in the
    // aggregate) cost a sort of every candidate's words; integer sums, a numeric aggregate.
    let scored = |candidates: &str| {
        format!(
            "SELECT c.chunk_id, sum(round(idf.idf * u.tf * ({BM25_K1} + 1)
                    / (u.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * c.length / (SELECT avgdl FROM stats)))
                    * {EXACT_UNITS}) / {EXACT_UNITS}) AS score
             FROM {{schema}}.chunks c,
                  LATERAL (SELECT m.lexeme, coalesce(array_length(m.positions, 1), 1) AS tf
                           FROM unnest(ts_filter(setweight(c.tsv, 'A', (SELECT lexemes FROM q)), '{{a}}')) m) u
                  JOIN idf ON idf.lexeme = u.lexeme
             WHERE c.tsv @@ {candidates} AND {filter}
             GROUP BY c.chunk_id ORDER BY score DESC, c.chunk_id LIMIT {n}"
        )
    };
    let quoted = |lexeme: &str| format!("'''' || replace({lexeme}, '''', '''''') || ''''");
    let as_tsquery =
        |condition: &str| format!("string_agg({}, ' | ') FILTER (WHERE {condition})::tsquery", quoted("lexeme"));
    let (quoted_word, quoted_set_word) = (quoted("lexeme"), quoted("w.lexeme"));
    let (rare, pair, essential) =
        (scored("(SELECT tsq FROM pick)"), scored("(SELECT tsq FROM pair)"), scored("(SELECT tsq FROM plan)"));
    let (rare_tsquery, essential_tsquery) = (as_tsquery("rare"), as_tsquery("essential"));
    // A word without a recorded bound is bounded by the most any count can give. The bounds
    // are read through `to_jsonb`, so a query function deployed before the indexer has run
    // migration 4 still answers (with that loose bound) instead of failing on the column.
    // The 1e-9 keeps a rounding error in a sum from deciding a tie. `sets` grows each set by
    // a word of smaller bound until its bounds, with the unspelled words', reach θ.
    // When even the rarest word is over the budget (a query of common words only), θ comes
    // from the chunks holding the two rarest words together, if at least `n` do: any `n`
    // chunks' scores bound the `n`-th best from below, and these are fewer to score. They are
    // not every chunk holding the rarest word, so the rare words alone never suffice then.
    // At 100k chunks this halved keyword p99 (bench/RESULTS.md).
    format!(
        "WITH RECURSIVE q AS (SELECT to_tsquery('english', {tsquery}) AS tsq,
                           tsvector_to_array(to_tsvector('english', {words})) AS lexemes),
              stats AS (SELECT greatest(chunks, 1)::float8 AS n, greatest(length::float8 / greatest(chunks, 1), 1) AS avgdl
                        FROM {{schema}}.corpus),
              idf AS (SELECT t.lexeme, t.df, ln(1 + (s.n - t.df + 0.5) / (t.df + 0.5)) AS idf,
                             coalesce(b.max_tf * ({BM25_K1} + 1)
                                      / (b.max_tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * b.min_length / s.avgdl)),
                                      {BM25_K1} + 1) AS most
                      FROM {{schema}}.terms t
                           CROSS JOIN LATERAL (SELECT (to_jsonb(t) ->> 'max_tf')::float8 AS max_tf,
                                                      (to_jsonb(t) ->> 'min_length')::float8 AS min_length) b,
                           q, stats s
                      WHERE t.lexeme = ANY (q.lexemes) AND t.df > 0),
              split AS (SELECT lexeme, df, idf * most AS bound,
                               sum(df) OVER w <= {rare_postings} OR row_number() OVER w = 1 AS rare
                        FROM idf WINDOW w AS (ORDER BY df, lexeme)),
              pick AS (SELECT {rare_tsquery} AS tsq FROM split),
              pair AS (SELECT CASE WHEN min(df) > {rare_postings} AND count(*) >= 2
                                   THEN (SELECT string_agg({quoted_word}, ' & ') FROM (SELECT lexeme FROM split ORDER BY df, lexeme LIMIT 2) w)::tsquery
                              END AS tsq
                       FROM split),
              from_pair AS ({pair}),
              paired AS (SELECT count(*) >= {n} AS used FROM from_pair),
              from_rare AS (SELECT chunk_id, score FROM from_pair WHERE (SELECT used FROM paired)
                            UNION ALL
                            SELECT chunk_id, score FROM ({rare}) r WHERE NOT (SELECT used FROM paired)),
              threshold AS (SELECT CASE WHEN count(*) >= {n} THEN min(score) END AS theta FROM from_rare),
              reach AS (SELECT s.lexeme, s.rare,
                               f.theta IS NULL
                               OR sum(s.bound) OVER (ORDER BY s.rare, s.bound, s.lexeme) * (1 + 1e-9) >= f.theta AS essential
                        FROM split s, threshold f),
              spelled AS (SELECT lexeme, bound, row_number() OVER (ORDER BY bound DESC, lexeme) AS at
                          FROM split WHERE df * 2 <= (SELECT n FROM stats)
                          ORDER BY bound DESC, lexeme LIMIT {THRESHOLD_WORDS}),
              assumed AS (SELECT (SELECT sum(bound) FROM split) - coalesce((SELECT sum(bound) FROM spelled), 0) AS bound),
              sets AS (SELECT at, bound AS total, {quoted_word} AS words FROM spelled
                       UNION ALL
                       SELECT w.at, s.total + w.bound, s.words || ' & ' || {quoted_set_word}
                       FROM sets s JOIN spelled w ON w.at > s.at, assumed a, threshold f
                       WHERE (s.total + a.bound) * (1 + 1e-9) < f.theta),
              enough AS (SELECT string_agg('(' || s.words || ')', ' | ')::tsquery AS tsq
                         FROM sets s, assumed a, threshold f
                         WHERE (s.total + a.bound) * (1 + 1e-9) >= f.theta),
              plan AS (SELECT coalesce(bool_and(rare) FILTER (WHERE essential), true) AND NOT (SELECT used FROM paired) AS rare_suffice,
                              {essential_tsquery} && coalesce((SELECT tsq FROM enough), {essential_tsquery}) AS tsq
                       FROM reach)
         SELECT chunk_id, score FROM from_rare WHERE (SELECT rare_suffice FROM plan)
         UNION ALL
         SELECT chunk_id, score FROM ({essential}) essential WHERE NOT (SELECT rare_suffice FROM plan)"
    )
}

/// The most words [`bm25_top_sql`] spells out as sets whose bounds reach θ (at most 255 sets).
/// At 100k chunks these sets cut the chunks a long-tailed query scores by 3–15×.
const THRESHOLD_WORDS: i64 = 8;

/// 2^36: BM25's parts are summed in these units ([`bm25_top_sql`]).
const EXACT_UNITS: &str = "68719476736::float8";

/// The default budget of [`PostgresIndex`]'s keyword candidates: postings (chunks holding a
/// word, counted per word) of the query's rarest words.
const RARE_POSTINGS: i64 = 5_000;

const COLUMNS: &str = "c.chunk_id, c.document_id, c.version, c.ordinal, c.text, c.citation, c.metadata, c.embedding, p.parent_id, p.text AS parent_text";

fn read_hit(row: &Row, score: f64, ranks: Ranks) -> Result<Hit, IndexError> {
    let citation: Value = row.try_get("citation").map_err(unavailable)?;
    let metadata: Value = row.try_get("metadata").map_err(unavailable)?;
    let embedding: Vector = row.try_get("embedding").map_err(unavailable)?;
    let version: i32 = row.try_get("version").map_err(unavailable)?;
    let ordinal: i32 = row.try_get("ordinal").map_err(unavailable)?;
    let parent_id: Option<String> = row.try_get("parent_id").map_err(unavailable)?;
    let parent_text: Option<String> = row.try_get("parent_text").map_err(unavailable)?;
    Ok(Hit {
        document_id: row.try_get("document_id").map_err(unavailable)?,
        version: u32::try_from(version).unwrap_or_default(),
        chunk: IndexedChunk {
            chunk_id: row.try_get("chunk_id").map_err(unavailable)?,
            ordinal: u32::try_from(ordinal).unwrap_or_default(),
            text: row.try_get("text").map_err(unavailable)?,
            citation: serde_json::from_value::<Citation>(citation).map_err(unavailable)?,
            metadata: match metadata {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            embedding: embedding.to_vec(),
            parent: parent_id.zip(parent_text).map(|(chunk_id, text)| ParentChunk { chunk_id, text }),
        },
        score,
        ranks,
    })
}

fn rank_of(row: &Row, column: &str) -> Result<Option<u32>, IndexError> {
    let rank: Option<i64> = row.try_get(column).map_err(unavailable)?;
    Ok(rank.map(|r| u32::try_from(r).unwrap_or(u32::MAX)))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresIndex {
    /// A search's rows: whole hits, or (a vector or keyword list) only its chunk ids, best first.
    async fn ranked(
        &self,
        client: &mut Client,
        query: &SearchQuery,
        words: Option<String>,
        returned: Returned,
    ) -> Result<Vec<Row>, IndexError> {
        let tx = client.transaction().await.map_err(database_error)?;
        let candidates = match query.mode {
            SearchMode::Hybrid => query.fusion.candidates.max(query.top_k),
            _ => query.top_k,
        };
        // Filtered HNSW scans keep going until enough rows pass. The default beam is wide for
        // recall: at 100k chunks of hashing vectors (near-orthogonal, HNSW's worst case) the
        // bench's recall@10 against exact search is 0.97 at 800 (0.96 filtered) on the
        // `vector_index!` graph, for about 32 ms a query on 2 cores (bench/RESULTS.md, issue 19).
        // Without a filter the vector index always holds the top k, yet below some tens of
        // thousands of chunks the planner prefers a sequential scan, as it does not count
        // reading each vector out of line: at 10k chunks that took 120 ms where the index took
        // 15 (bench/RESULTS.md). With a filter, the scan may be right: it computes distances
        // for matching rows only, and an index scan can give up before a rare match.
        // A bulk-loaded schema's index may be IVFFlat instead (decision 40): a search probes a
        // share of its lists, counted from the index's definition, and its iterative scans can
        // only be in relaxed order, which the exact cut below puts right.
        // One round trip sets all this and finds which vector index the schema has.
        let ef_search = candidates.saturating_mul(4).max(self.ef_search).min(HNSW_MAX_EF_SEARCH).to_string();
        let sequential_scan = if query.filter.is_none() && query.mode != SearchMode::Keyword { "off" } else { "on" };
        let half_index = format!("{}.chunks_embedding_half_idx", self.settings.schema);
        let probes_percent = i32::try_from(self.ivfflat_probes_percent).unwrap_or(100);
        let half_precision: bool = tx
            .query_one(
                "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', $1, true),
                        set_config('enable_seqscan', $2, true), to_regclass($3) IS NOT NULL,
                        set_config('ivfflat.iterative_scan', 'relaxed_order', true),
                        set_config('ivfflat.probes', (
                            SELECT coalesce(max(ceil(split_part(o, '=', 2)::numeric * $4::int4 / 100)), 1)::int::text
                            FROM pg_class i, unnest(i.reloptions) o
                            WHERE i.oid = to_regclass($3) AND o LIKE 'lists=%'), true)",
                &[&ef_search, &sequential_scan, &half_index, &probes_percent],
            )
            .await
            .map_err(database_error)?
            .get(3);
        let order = if half_precision {
            "c.embedding::halfvec({dims}) <=> {q}::vector::halfvec({dims})"
        } else {
            "c.embedding <=> {q}::vector"
        };
        let mut params = Params::default();
        let filter = query.filter.as_ref().map_or_else(|| "true".to_owned(), |f| filter_sql(f, &mut params));
        let vector = query.vector.as_deref().map(|v| Vector::from(v.to_vec()));
        let vector_list = |params: &mut Params| {
            let q = params.add(vector.clone());
            let order = order.replace("{q}", &q);
            // A few more candidates than needed come by the index's order, so the exact ranking
            // decides the cut, not half precision's rounding or which of two equals the graph
            // met first. The margin is fixed, not a multiple: a filtered HNSW scan reads on
            // until that many rows pass the filter, about ten index entries for each one at a
            // 10% filter.
            // The exact distance is taken outside the LIMIT: a sequential scan (a filtered
            // search) would otherwise compute it for every matching row.
            format!(
                "SELECT chunk_id, rank, score FROM (
                    SELECT chunk_id, row_number() OVER (ORDER BY distance, chunk_id) AS rank, 1 - distance AS score FROM (
                        SELECT chunk_id, embedding <=> {q}::vector AS distance FROM (
                            SELECT c.chunk_id, c.embedding FROM {{schema}}.chunks c
                            WHERE {filter} ORDER BY {order} LIMIT {}) n) v) r
                 WHERE rank <= {}",
                limit(candidates.saturating_add(EXACT_CUT_MARGIN)),
                limit(candidates)
            )
        };
        let keyword_list = |params: &mut Params| {
            let tsquery = params.add(words.clone().unwrap_or_default());
            let words = params.add(words.clone().unwrap_or_default().replace(" | ", " "));
            format!(
                "SELECT chunk_id, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank, score FROM ({}) k",
                bm25_top_sql(&tsquery, &words, &filter, limit(candidates), self.rare_postings)
            )
        };
        let sql = match query.mode {
            SearchMode::Vector | SearchMode::Keyword if returned == Returned::Ids => format!(
                "WITH ranked AS ({}) SELECT r.chunk_id FROM ranked r ORDER BY r.rank",
                if query.mode == SearchMode::Vector { vector_list(&mut params) } else { keyword_list(&mut params) }
            ),
            SearchMode::Vector => format!(
                "WITH ranked AS ({}) SELECT {COLUMNS}, r.score, r.rank AS vector_rank, NULL::bigint AS keyword_rank
                 FROM ranked r JOIN {{schema}}.chunks c USING (chunk_id) LEFT JOIN {{schema}}.parents p ON p.parent_id = c.parent_id ORDER BY r.rank",
                vector_list(&mut params)
            ),
            SearchMode::Keyword => format!(
                "WITH ranked AS ({}) SELECT {COLUMNS}, r.score, NULL::bigint AS vector_rank, r.rank AS keyword_rank
                 FROM ranked r JOIN {{schema}}.chunks c USING (chunk_id) LEFT JOIN {{schema}}.parents p ON p.parent_id = c.parent_id ORDER BY r.rank",
                keyword_list(&mut params)
            ),
            SearchMode::Hybrid => {
                let vector_cte = vector_list(&mut params);
                let keyword_cte = if words.is_some() {
                    keyword_list(&mut params)
                } else {
                    "SELECT NULL::text AS chunk_id, NULL::bigint AS rank WHERE false".into()
                };
                let (k, wv, wk) = (
                    params.add(query.fusion.k),
                    params.add(query.fusion.vector_weight),
                    params.add(query.fusion.keyword_weight),
                );
                // Ties break as the in-process fusion breaks them: vector list order first.
                format!(
                    "WITH vector AS ({vector_cte}), keyword AS ({keyword_cte}),
                     fused AS (
                        SELECT coalesce(v.chunk_id, k.chunk_id) AS chunk_id, v.rank AS vector_rank, k.rank AS keyword_rank,
                               coalesce({wv}::float8 / ({k}::float8 + v.rank), 0) + coalesce({wk}::float8 / ({k}::float8 + k.rank), 0) AS score
                        FROM vector v FULL OUTER JOIN keyword k ON v.chunk_id = k.chunk_id)
                     SELECT {COLUMNS}, f.score, f.vector_rank, f.keyword_rank FROM fused f JOIN {{schema}}.chunks c USING (chunk_id) LEFT JOIN {{schema}}.parents p ON p.parent_id = c.parent_id
                     ORDER BY f.score DESC, f.vector_rank NULLS LAST, f.keyword_rank LIMIT {}",
                    limit(query.top_k)
                )
            }
        };
        let sql = self.sql(&sql);
        let rows = match tx.query(&sql, &params.refs()).await {
            Ok(rows) => rows,
            // Nothing indexed yet: the indexer creates the schema with its first write.
            Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                return Ok(Vec::new())
            }
            Err(error) => return Err(database_error(error)),
        };
        tx.commit().await.map_err(database_error)?;
        Ok(rows)
    }

    /// Hybrid as its vector and keyword lists at once, each on a connection of its own, fused
    /// here as the one statement fuses them (ties by vector rank, then keyword rank); then the
    /// fused top k's rows.
    async fn hybrid_lists_at_once(
        &self,
        client: &mut Client,
        keyword_client: &mut Client,
        query: &SearchQuery,
        words: Option<String>,
    ) -> Result<Vec<Hit>, IndexError> {
        let list = |mode| SearchQuery { mode, top_k: query.fusion.candidates.max(query.top_k), ..query.clone() };
        let (vector, keyword) = (list(SearchMode::Vector), list(SearchMode::Keyword));
        let (vector, keyword) = tokio::try_join!(
            self.ranked(client, &vector, None, Returned::Ids),
            self.ranked(keyword_client, &keyword, words, Returned::Ids),
        )?;
        let ids = |rows: Vec<Row>| rows.iter().map(|row| row.try_get::<_, String>(0)).collect::<Result<Vec<_>, _>>();
        let mut fused = query.fusion.fuse(&ids(vector).map_err(unavailable)?, &ids(keyword).map_err(unavailable)?);
        fused.truncate(query.top_k);
        if fused.is_empty() {
            return Ok(Vec::new()); // nothing matched, or nothing is indexed yet (no table)
        }
        let wanted: Vec<&str> = fused.iter().map(|(id, _, _)| id.as_str()).collect();
        let sql = self.sql(&format!(
            "SELECT {COLUMNS} FROM {{schema}}.chunks c LEFT JOIN {{schema}}.parents p ON p.parent_id = c.parent_id
             WHERE c.chunk_id = ANY ($1)"
        ));
        let rows = client.query(&sql, &[&wanted]).await.map_err(database_error)?;
        let mut rows: HashMap<String, Row> = rows
            .into_iter()
            .map(|row| Ok((row.try_get("chunk_id").map_err(unavailable)?, row)))
            .collect::<Result<_, IndexError>>()?;
        // A chunk deleted since its list was ranked is left out, as a search a moment later would.
        fused
            .into_iter()
            .filter_map(|(id, ranks, score)| rows.remove(&id).map(|row| read_hit(&row, score, ranks)))
            .collect()
    }
}

/// What [`PostgresIndex::ranked`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Returned {
    Hits,
    Ids,
}

#[async_trait]
impl SearchIndex for PostgresIndex {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    async fn upsert(&self, document: &IndexedDocument) -> Result<Upserted, IndexError> {
        check_model(&self.model, document)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(database_error)?;
        let version = i32::try_from(document.version).map_err(|e| IndexError::Invalid(e.to_string()))?;
        // The document's row is its lock: concurrent writers of one document take turns.
        tx.execute(
            &self.sql("INSERT INTO {schema}.documents (document_id, version, processed_at) VALUES ($1, 0, '-infinity') ON CONFLICT DO NOTHING"),
            &[&document.document_id],
        )
        .await
        .map_err(database_error)?;
        let held = tx
            .query_one(
                &self.sql("SELECT version, deleted_at FROM {schema}.documents WHERE document_id = $1 FOR UPDATE"),
                &[&document.document_id],
            )
            .await
            .map_err(database_error)?;
        let held_version: i32 = held.get(0);
        let deleted_at: Option<DateTime<Utc>> = held.get(1);
        if held_version > version || deleted_at.is_some_and(|d| d > document.processed_at) {
            return Ok(Upserted::Stale);
        }
        let before = self.remove_chunks(&tx, &document.document_id).await?;
        // One statement for all chunks: a round trip per chunk made indexing ~600 chunks/s.
        let mut columns = ChunkColumns::default();
        for chunk in &document.chunks {
            columns.push(chunk)?;
        }
        tx.execute(
            &self.sql(
                "INSERT INTO {schema}.chunks (chunk_id, document_id, version, ordinal, text, citation, metadata, embedding, parent_id, length)
                 SELECT chunk_id, $1, $2, ordinal, text, citation, metadata, embedding, parent_id,
                        {schema}.lexeme_count(to_tsvector('english', text))
                 FROM unnest($3::text[], $4::int[], $5::text[], $6::jsonb[], $7::jsonb[], $8::vector[], $9::text[])
                      AS c (chunk_id, ordinal, text, citation, metadata, embedding, parent_id)",
            ),
            &[
                &document.document_id,
                &version,
                &columns.chunk_ids,
                &columns.ordinals,
                &columns.texts,
                &columns.citations,
                &columns.metadata,
                &columns.embeddings,
                &columns.parent_ids,
            ],
        )
        .await
        .map_err(database_error)?;
        if !columns.parents.is_empty() {
            let (parent_ids, parent_texts): (Vec<String>, Vec<String>) = columns.parents.into_iter().unzip();
            tx.execute(
                &self.sql(
                    "INSERT INTO {schema}.parents (parent_id, document_id, text)
                     SELECT parent_id, $1, text FROM unnest($2::text[], $3::text[]) AS p (parent_id, text)
                     ON CONFLICT (parent_id) DO NOTHING",
                ),
                &[&document.document_id, &parent_ids, &parent_texts],
            )
            .await
            .map_err(database_error)?;
        }
        self.count_terms(&tx, &document.document_id, before).await?;
        tx.execute(
            &self.sql("UPDATE {schema}.documents SET version = $2, processed_at = $3, deleted_at = NULL WHERE document_id = $1"),
            &[&document.document_id, &version, &document.processed_at],
        )
        .await
        .map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        Ok(Upserted::Replaced)
    }

    async fn delete(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(database_error)?;
        tx.execute(
            &self.sql(
                "INSERT INTO {schema}.documents (document_id, version, processed_at, deleted_at) VALUES ($1, 0, '-infinity', $2)
                 ON CONFLICT (document_id) DO UPDATE SET deleted_at = greatest({schema}.documents.deleted_at, excluded.deleted_at)",
            ),
            &[&document_id, &deleted_at],
        )
        .await
        .map_err(database_error)?;
        let before = self.remove_chunks(&tx, document_id).await?;
        self.count_terms(&tx, document_id, before).await?;
        tx.commit().await.map_err(database_error)
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        let words = tsquery(&query.text);
        if query.mode == SearchMode::Keyword && words.is_none() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        if query.mode == SearchMode::Hybrid && self.hybrid_lists_at_once && words.is_some() && query.vector.is_some() {
            match self.connection(&self.keyword_client).await {
                Ok(mut keyword_client) => {
                    return self.hybrid_lists_at_once(&mut client, &mut keyword_client, query, words).await
                }
                // Say the role's or the server's connection limit: one statement still answers.
                Err(error) => tracing::warn!(%error, "no second connection for hybrid's lists; one statement instead"),
            }
        }
        self.ranked(&mut client, query, words, Returned::Hits)
            .await?
            .iter()
            .map(|row| {
                let ranks = Ranks { vector: rank_of(row, "vector_rank")?, keyword: rank_of(row, "keyword_rank")? };
                read_hit(row, row.try_get("score").map_err(unavailable)?, ranks)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_before_they_reach_sql() {
        assert!(valid_schema("seams"));
        assert!(valid_schema("seams_test_42"));
        for bad in ["", "Seams", "1abc", "a;drop table x", "a-b", &"x".repeat(64)] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }

    #[test]
    fn a_bulk_load_builds_ivfflat_from_its_threshold_with_pgvectors_list_count() {
        assert_eq!(ivfflat_lists(9_999), 9);
        assert_eq!(ivfflat_lists(100_000), 100);
        assert_eq!(ivfflat_lists(1_000_000), 1000);
        assert_eq!(ivfflat_lists(4_000_000), 2000, "the square root beyond 1M rows");
        assert_eq!(ivfflat_lists(10), 1, "at least one list");
        let small = bulk_vector_index(IVFFLAT_MIN_CHUNKS - 1, IVFFLAT_MIN_CHUNKS);
        assert!(small.contains("USING hnsw"), "{small}");
        let big = bulk_vector_index(250_000, IVFFLAT_MIN_CHUNKS);
        assert!(big.contains("USING ivfflat") && big.contains("lists = 250"), "{big}");
        assert!(
            big.contains("chunks_embedding_half_idx ON {schema}.chunks"),
            "the name and schema searches look for: {big}"
        );
    }

    #[test]
    fn an_unusable_ca_file_stops_init_with_its_name() {
        let dir = std::env::temp_dir().join(format!("seams-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        for path in [empty, dir.join("missing.pem")] {
            let error = tls(Some(&path)).err().unwrap();
            assert!(error.to_string().contains("SEAMS_DATABASE_CA_FILE"), "{error}");
        }
        assert!(tls(None).is_ok());
    }

    #[test]
    fn the_secret_the_template_makes_for_aurora_opens_its_database() {
        // template.yaml's DatabaseSecret as Secrets Manager holds it once the generated password
        // and DatabaseSecretAttachment's fields (host, port as a number, engine, cluster) are in.
        let template = include_str!("../../../template.yaml");
        let field = |name: &str| template.lines().find_map(|line| line.trim().strip_prefix(name)).unwrap();
        let mut secret: serde_json::Value =
            serde_json::from_str(field("SecretStringTemplate: ").trim_matches('\'')).unwrap();
        secret["password"] = "generated".into();
        secret["host"] = "seams.cluster-abc.eu-west-1.rds.amazonaws.com".into();
        secret["port"] = 5432.into();
        secret["engine"] = "postgres".into();
        secret["dbClusterIdentifier"] = "seams-databasecluster-1".into();
        let config = serde_json::from_value::<DatabaseSecret>(secret).unwrap().config();
        assert_eq!(config.get_dbname(), Some(field("DatabaseName: ")), "the cluster's database");
        assert_eq!(config.get_user(), Some("seams"));
        assert_eq!(config.get_ports(), [5432]);
        assert_eq!(config.get_password(), Some(&b"generated"[..]));
    }

    #[test]
    fn user_words_never_become_tsquery_syntax() {
        assert_eq!(tsquery("refund & policy:* !x").as_deref(), Some("refund | policy | x"));
        assert_eq!(tsquery("&|!"), None);
    }
}
