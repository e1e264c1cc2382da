//! The schema: its migrations, and the vector index searches order by.

use super::vector_parts::DROP_PART_ONLY_INDEXES;
use super::{database_error, unavailable, PostgresIndex};
use crate::index::IndexError;

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

/// Serialises migrations across every schema of one database (CREATE EXTENSION included).
const MIGRATION_LOCK: i64 = 0x5EA3_5000;

impl PostgresIndex {
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
        // Part 0's index of a vector index in parts dropped (to go back to HNSW), the other
        // parts' indexes go too.
        let build = format!(
            "SET LOCAL maintenance_work_mem = '{}MB'; {} {DROP_PART_ONLY_INDEXES}",
            self.build_memory_mib,
            vector_index!()
        );
        tx.batch_execute(&self.sql(&build)).await.map_err(database_error)?;
        tx.commit().await.map_err(database_error)?;
        Ok(true)
    }
}
