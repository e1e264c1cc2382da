//! The index file's schema, and bringing an older file up to it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};
use seams_contracts::process::EmbeddingModel;

use super::{index_keywords, unavailable};
use crate::index::IndexError;

/// The full-text index's tokenizer, which the scratch table that tokenizes queries shares.
macro_rules! tokenizer {
    () => {
        "porter unicode61 remove_diacritics 2"
    };
}

const SCHEMA: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    processed_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    citation TEXT NOT NULL,
    metadata TEXT NOT NULL,
    embedding BLOB NOT NULL,
    parent_id TEXT
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id);
CREATE TABLE IF NOT EXISTS parents (
    parent_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS parents_by_document ON parents (document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content = 'chunks', content_rowid = 'id', tokenize = '",
    tokenizer!(),
    "'
);
"
);

/// What the full-text index holds for each chunk, recorded in `meta` so an index built
/// another way is rebuilt on open. Version 1 indexed the whole text through triggers;
/// version 2 indexes [`crate::keywords::indexed_text`] (Snowball's English stop words left out),
/// written and removed by the index's code.
const KEYWORDS_VERSION: &str = "2: snowball english stop words removed";

/// Indexes built before version 2 keep the text in FTS5 through triggers.
const VERSION_1_TRIGGERS: &str = "
DROP TRIGGER IF EXISTS chunks_fts_insert;
DROP TRIGGER IF EXISTS chunks_fts_delete;
";

/// FTS5's view of its own index (every token with its row), and a scratch full-text table
/// whose view tells how FTS5 tokenizes a text: a query's words, a write's chunks. Contentless,
/// so emptying it does not tokenize its texts again. Per connection, in `temp`.
pub(super) const TOKEN_TABLES: &str = concat!(
    "
CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_fts_tokens USING fts5vocab(main, chunks_fts, instance);
CREATE VIRTUAL TABLE IF NOT EXISTS temp.scratch_texts USING fts5(text, content = '', tokenize = '",
    tokenizer!(),
    "');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.scratch_tokens USING fts5vocab(temp, scratch_texts, instance);
"
);

/// Creates or upgrades the schema and checks the embedding model, inside the caller's
/// transaction.
pub(super) fn prepare_schema(connection: &Connection, model: &EmbeddingModel, path: &Path) -> Result<(), IndexError> {
    connection.execute_batch(SCHEMA).map_err(unavailable)?;
    add_parent_column(connection).map_err(unavailable)?;
    let stored: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'embedding'", [], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    let configured = serde_json::to_string(model).map_err(unavailable)?;
    match stored {
        None => {
            connection
                .execute("INSERT INTO meta (key, value) VALUES ('embedding', ?1)", [&configured])
                .map_err(unavailable)?;
        }
        Some(stored) if stored != configured => {
            return Err(IndexError::Invalid(format!(
                "the index at {} holds vectors of {stored}; this function embeds with {configured}",
                path.display()
            )))
        }
        Some(_) => {}
    }
    migrate_keywords(connection).map_err(unavailable)
}

/// Brings the full-text index to [`KEYWORDS_VERSION`], rebuilding it from the chunks when it
/// was built another way. Inside [`prepare_schema`]'s transaction: a crash leaves the old
/// index whole.
fn migrate_keywords(connection: &Connection) -> rusqlite::Result<()> {
    let stored: Option<String> =
        connection.query_row("SELECT value FROM meta WHERE key = 'keywords'", [], |r| r.get(0)).optional()?;
    if stored.as_deref() == Some(KEYWORDS_VERSION) {
        return Ok(());
    }
    connection.execute_batch(VERSION_1_TRIGGERS)?;
    connection.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('delete-all')", [])?;
    let mut chunks = connection.prepare("SELECT id, text FROM chunks")?;
    let rows = chunks.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, text) = row?;
        index_keywords(connection, id, &text)?;
    }
    connection.execute(
        "INSERT INTO meta (key, value) VALUES ('keywords', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [KEYWORDS_VERSION],
    )?;
    Ok(())
}

/// Indexes made before hierarchical chunking have no `parent_id` column: add it (empty).
fn add_parent_column(connection: &Connection) -> rusqlite::Result<()> {
    let has: bool = connection.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('chunks') WHERE name = 'parent_id'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        connection.execute_batch("ALTER TABLE chunks ADD COLUMN parent_id TEXT")?;
    }
    Ok(())
}
