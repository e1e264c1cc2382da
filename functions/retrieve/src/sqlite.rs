//! The embedded index: one SQLite file, and in memory what searching it needs: loaded by
//! the first search, kept up by small writes, loaded again after big ones. Keywords: FTS5
//! tokenizes and stores; the search walks an inverted index of FTS5's own tokens, each
//! word's read when a search first asks for it, with MaxScore ([`crate::postings`]), scoring
//! as FTS5's `bm25()` does, so its cost follows the query's rare words. Vectors: an int8
//! scan of every row ([`crate::quantised`]) picks candidates, which exact cosine re-scores.
//! Filters apply in the scan, before the cut, so they never hide a match (recall against the
//! exact scan: bench/RESULTS.md). Decision 22.
//!
//! This file holds the index, its connections and its writes; `schema` holds the file's
//! tables and their upgrades, `matrix` what a search holds in memory, how it follows a write
//! and how it ranks.

mod matrix;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use seams_contracts::process::{EmbeddingModel, ParentChunk};

pub use matrix::{fts_query, rank};

use crate::index::{
    check_model, normalised, Hit, IndexError, IndexedChunk, IndexedDocument, SearchIndex, SearchQuery, Upserted,
};
use crate::keywords;
use matrix::{from_blob, keyword_terms, load_matrix, read_hit, to_blob, AddedRow, Matrix, RowChanges};
use schema::{prepare_schema, TOKEN_TABLES};

/// Searches run side by side, each on a connection of its own; a write waits for them and
/// they for it, so a search's matrix always describes the file it reads.
pub struct SqliteIndex {
    path: PathBuf,
    model: EmbeddingModel,
    /// The one connection that writes, and loads the matrix.
    writer: Mutex<Connection>,
    /// Followed by small writes (which hold it exclusively), dropped by big ones and loaded
    /// again by the next search.
    matrix: RwLock<Option<Matrix>>,
    /// Connections no search is using.
    idle_readers: Mutex<Vec<Connection>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// The index itself: every commit is synced.
    Durable,
    /// A copy of one kept elsewhere: nothing is lost with it.
    Copy,
}

fn unavailable(error: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(format!("sqlite: {error}"))
}

fn poisoned<T>(_: T) -> IndexError {
    IndexError::Unavailable("sqlite: a writer panicked".into())
}

impl SqliteIndex {
    /// Opens (creating if needed) the index file. An index built with another embedding
    /// model is refused: its vectors cannot be compared with this model's queries.
    pub fn open(path: &Path, model: EmbeddingModel) -> Result<Self, IndexError> {
        Self::open_with(path, model, Durability::Durable)
    }

    /// Opens a disposable copy of an index kept elsewhere (the segmented index's local file,
    /// rebuilt from the store on every start): its writes are not synced to disk, which a
    /// cold start would otherwise wait for.
    pub fn open_copy(path: &Path, model: EmbeddingModel) -> Result<Self, IndexError> {
        Self::open_with(path, model, Durability::Copy)
    }

    fn open_with(path: &Path, model: EmbeddingModel, durability: Durability) -> Result<Self, IndexError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(unavailable)?;
        }
        let connection = Connection::open(path).map_err(unavailable)?;
        // One self-contained file (no WAL beside it): a compaction uploads exactly this file.
        connection.pragma_update(None, "journal_mode", "DELETE").map_err(unavailable)?;
        if durability == Durability::Copy {
            connection.pragma_update(None, "synchronous", "OFF").map_err(unavailable)?;
        }
        connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        // One transaction: a new file syncs its journal once, not once per statement, and a
        // crash leaves the old schema whole.
        connection.execute_batch("BEGIN IMMEDIATE").map_err(unavailable)?;
        let prepared = prepare_schema(&connection, &model, path);
        let ended = connection.execute_batch(if prepared.is_ok() { "COMMIT" } else { "ROLLBACK" });
        prepared?;
        ended.map_err(unavailable)?;
        connection.execute_batch(TOKEN_TABLES).map_err(unavailable)?;
        Ok(Self {
            path: path.to_owned(),
            model,
            writer: Mutex::new(connection),
            matrix: RwLock::new(None),
            idle_readers: Mutex::new(Vec::new()),
        })
    }

    /// The embedding model the index at `path` was built with, if there is one there.
    pub fn stored_model(path: &Path) -> Option<EmbeddingModel> {
        if !path.is_file() {
            return None;
        }
        let connection = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        let stored: String =
            connection.query_row("SELECT value FROM meta WHERE key = 'embedding'", [], |r| r.get(0)).ok()?;
        serde_json::from_str(&stored).ok()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Connection>, IndexError> {
        self.writer.lock().map_err(poisoned)
    }

    /// Runs `write` in one transaction, then has the matrix follow the rows it changed, or
    /// drops it when the change is too big to follow; returns what `write` returned.
    fn write<T>(
        &self,
        write: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<(T, RowChanges)>,
    ) -> Result<T, IndexError> {
        let mut matrix = self.matrix.write().map_err(poisoned)?;
        let mut writer = self.lock_writer()?;
        let transaction = writer.transaction().map_err(unavailable)?;
        let (result, changes) = write(&transaction).map_err(unavailable)?;
        transaction.commit().map_err(unavailable)?;
        let followed = match matrix.as_mut() {
            Some(held) if held.can_follow(&changes) => held.follow(&writer, &changes).is_ok(),
            _ => false,
        };
        if !followed {
            *matrix = None;
        }
        Ok(result)
    }

    /// Whether a search would use the matrix in memory rather than load it.
    #[cfg(test)]
    fn holds_matrix(&self) -> bool {
        self.matrix.read().is_ok_and(|matrix| matrix.is_some())
    }

    /// The file's bytes as of the last committed write (nothing is in flight while this
    /// holds the writer). For a compaction's new base.
    pub fn read_file(&self) -> Result<Vec<u8>, IndexError> {
        let _writes_wait = self.lock_writer()?;
        std::fs::read(&self.path).map_err(unavailable)
    }

    /// Every document the index holds, with its chunks in order: what a bulk load into
    /// another index needs (`seams copy-index`). Vectors come back unit length.
    pub fn documents(&self) -> Result<Vec<IndexedDocument>, IndexError> {
        let writer = self.lock_writer()?;
        let mut statement = writer
            .prepare(
                "SELECT c.document_id, d.version, d.processed_at, c.chunk_id, c.ordinal, c.text, c.citation,
                        c.metadata, c.embedding, c.parent_id, p.text
                 FROM chunks c JOIN documents d USING (document_id) LEFT JOIN parents p ON p.parent_id = c.parent_id
                 ORDER BY c.document_id, c.ordinal, c.id",
            )
            .map_err(unavailable)?;
        let mut rows = statement.query([]).map_err(unavailable)?;
        let mut documents: Vec<IndexedDocument> = Vec::new();
        let invalid =
            |what: &str, e: &dyn std::fmt::Display| IndexError::Invalid(format!("sqlite: a stored {what}: {e}"));
        while let Some(row) = rows.next().map_err(unavailable)? {
            let document_id: String = row.get(0).map_err(unavailable)?;
            if documents.last().is_none_or(|d| d.document_id != document_id) {
                let processed_at: i64 = row.get(2).map_err(unavailable)?;
                documents.push(IndexedDocument {
                    document_id: document_id.clone(),
                    version: row.get(1).map_err(unavailable)?,
                    processed_at: DateTime::from_timestamp_micros(processed_at).unwrap_or_default(),
                    embedding: self.model.clone(),
                    chunks: Vec::new(),
                });
            }
            let citation: String = row.get(6).map_err(unavailable)?;
            let metadata: String = row.get(7).map_err(unavailable)?;
            let parent_id: Option<String> = row.get(9).map_err(unavailable)?;
            let parent_text: Option<String> = row.get(10).map_err(unavailable)?;
            let chunk = IndexedChunk {
                chunk_id: row.get(3).map_err(unavailable)?,
                ordinal: row.get(4).map_err(unavailable)?,
                text: row.get(5).map_err(unavailable)?,
                citation: serde_json::from_str(&citation).map_err(|e| invalid("citation", &e))?,
                metadata: serde_json::from_str(&metadata).map_err(|e| invalid("metadata", &e))?,
                embedding: from_blob(row.get_ref(8).map_err(unavailable)?.as_blob().map_err(unavailable)?).collect(),
                parent: parent_id.zip(parent_text).map(|(chunk_id, text)| ParentChunk { chunk_id, text }),
            };
            if let Some(document) = documents.last_mut() {
                document.chunks.push(chunk);
            }
        }
        Ok(documents)
    }

    /// The matrix, loaded if a write dropped it, with the postings of `terms` taken in, held
    /// so no write starts until the search ends. `reader` is the search's connection.
    fn loaded_matrix(
        &self,
        reader: &Connection,
        terms: &[String],
    ) -> Result<RwLockReadGuard<'_, Option<Matrix>>, IndexError> {
        loop {
            let matrix = self.matrix.read().map_err(poisoned)?;
            if let Some(held) = matrix.as_ref() {
                if !held.lacks_terms(reader, terms).map_err(unavailable)? {
                    return Ok(matrix);
                }
            }
            drop(matrix);
            let mut matrix = self.matrix.write().map_err(poisoned)?;
            let writer = self.lock_writer()?;
            if matrix.is_none() {
                *matrix = Some(load_matrix(&writer, self.model.dims as usize).map_err(unavailable)?);
            }
            if let Some(held) = matrix.as_mut() {
                held.load_terms(&writer, terms).map_err(unavailable)?;
            }
        }
    }

    /// Runs `read` on a connection no other search is using (opened when none is idle),
    /// which goes back to the idle ones afterwards.
    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> Result<T, IndexError>) -> Result<T, IndexError> {
        let idle = self.idle_readers.lock().map_err(poisoned)?.pop();
        let connection = match idle {
            Some(connection) => connection,
            None => {
                let connection = Connection::open(&self.path).map_err(unavailable)?;
                connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
                connection.execute_batch(TOKEN_TABLES).map_err(unavailable)?;
                connection
            }
        };
        let result = read(&connection);
        self.idle_readers.lock().map_err(poisoned)?.push(connection);
        result
    }
}

/// Adds a chunk's words to the full-text index; returns the text it indexed.
pub(super) fn index_keywords(connection: &Connection, id: i64, text: &str) -> rusqlite::Result<String> {
    let indexed = keywords::indexed_text(text);
    connection.prepare_cached("INSERT INTO chunks_fts (rowid, text) VALUES (?1, ?2)")?.execute(params![id, indexed])?;
    Ok(indexed)
}

/// Deletes the document's chunks and their keywords (an external-content FTS5 table is
/// told exactly what it indexed); returns each removed chunk's rowid and indexed text.
fn remove_chunks(connection: &Connection, document_id: &str) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut chunks = connection.prepare_cached("SELECT id, text FROM chunks WHERE document_id = ?1")?;
    let rows: Vec<(i64, String)> = chunks
        .query_map([document_id], |r| Ok((r.get(0)?, keywords::indexed_text(&r.get::<_, String>(1)?))))?
        .collect::<rusqlite::Result<_>>()?;
    let mut unindex =
        connection.prepare_cached("INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', ?1, ?2)")?;
    for (id, indexed) in &rows {
        unindex.execute(params![id, indexed])?;
    }
    connection.execute("DELETE FROM chunks WHERE document_id = ?1", [document_id])?;
    connection.execute("DELETE FROM parents WHERE document_id = ?1", [document_id])?;
    Ok(rows)
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

#[async_trait]
impl SearchIndex for SqliteIndex {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    async fn upsert(&self, document: &IndexedDocument) -> Result<Upserted, IndexError> {
        check_model(&self.model, document)?;
        let mut rows = Vec::with_capacity(document.chunks.len());
        for chunk in &document.chunks {
            let citation = serde_json::to_string(&chunk.citation).map_err(|e| IndexError::Invalid(e.to_string()))?;
            let metadata = serde_json::to_string(&chunk.metadata).map_err(|e| IndexError::Invalid(e.to_string()))?;
            rows.push((chunk, citation, metadata, normalised(&chunk.embedding)));
        }
        self.write(|tx| {
            let held: Option<(u32, Option<i64>)> = tx
                .query_row("SELECT version, deleted_at FROM documents WHERE document_id = ?1", [&document.document_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((version, deleted_at)) = held {
                if version > document.version || deleted_at.is_some_and(|d| d > micros(document.processed_at)) {
                    return Ok((Upserted::Stale, RowChanges::default()));
                }
            }
            let mut changes = RowChanges { removed: remove_chunks(tx, &document.document_id)?, added: Vec::new() };
            let mut insert = tx.prepare_cached(
                "INSERT INTO chunks (chunk_id, document_id, version, ordinal, text, citation, metadata, embedding, parent_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut insert_parent = tx.prepare_cached(
                "INSERT INTO parents (parent_id, document_id, text) VALUES (?1, ?2, ?3) ON CONFLICT (parent_id) DO NOTHING",
            )?;
            for (chunk, citation, metadata, vector) in rows {
                let parent_id = chunk.parent.as_ref().map(|p| &p.chunk_id);
                if let Some(parent) = &chunk.parent {
                    insert_parent.execute(params![parent.chunk_id, document.document_id, parent.text])?;
                }
                insert.execute(params![
                    chunk.chunk_id,
                    document.document_id,
                    document.version,
                    chunk.ordinal,
                    chunk.text,
                    citation,
                    metadata,
                    to_blob(&vector),
                    parent_id
                ])?;
                let id = tx.last_insert_rowid();
                let indexed_text = index_keywords(tx, id, &chunk.text)?;
                let chunk_id = chunk.chunk_id.clone();
                changes.added.push(AddedRow { id, chunk_id, metadata, vector, indexed_text });
            }
            tx.execute(
                "INSERT INTO documents (document_id, version, processed_at, deleted_at) VALUES (?1, ?2, ?3, NULL)
                 ON CONFLICT (document_id) DO UPDATE SET version = excluded.version, processed_at = excluded.processed_at, deleted_at = NULL",
                params![document.document_id, document.version, micros(document.processed_at)],
            )?;
            Ok((Upserted::Replaced, changes))
        })
    }

    async fn delete(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError> {
        self.write(|tx| {
            let removed = remove_chunks(tx, document_id)?;
            tx.execute(
                "INSERT INTO documents (document_id, version, processed_at, deleted_at) VALUES (?1, 0, 0, ?2)
                 ON CONFLICT (document_id) DO UPDATE SET deleted_at = max(coalesce(deleted_at, 0), excluded.deleted_at)",
                params![document_id, micros(deleted_at)],
            )?;
            Ok(((), RowChanges { removed, added: Vec::new() }))
        })
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        let vector = query.vector.as_deref().unwrap_or_default();
        self.with_reader(|connection| {
            let terms = keyword_terms(connection, query).map_err(unavailable)?;
            let loaded = self.loaded_matrix(connection, terms.as_deref().unwrap_or_default())?;
            let Some(matrix) = loaded.as_ref() else { return Ok(Vec::new()) };
            let ranked = rank(
                query,
                |limit| matrix.vector_ranking(query, vector, limit),
                |limit| matrix.keyword_ranking(connection, query, terms.as_deref(), limit).map_err(unavailable),
            )?;
            ranked
                .into_iter()
                .map(|(row, score, ranks)| read_hit(connection, matrix, row, score, ranks).map_err(unavailable))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests;
