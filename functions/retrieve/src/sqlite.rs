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
mod tests {
    use serde_json::{Map, Value};

    use seams_contracts::retrieve::SearchMode;

    use super::matrix::{empty_citation, query_terms, row_lengths};
    use super::*;
    use crate::filter::Predicate;

    #[test]
    fn user_words_never_become_fts_syntax() {
        assert_eq!(
            fts_query("refund* policy OR \"x\"").as_deref(),
            Some("\"refund\" OR \"policy\" OR \"x\""),
            "the user's OR is a stop word, its quotes and star are not syntax"
        );
        assert_eq!(fts_query("?! -"), None);
    }

    #[test]
    fn vectors_survive_the_blob_round_trip() {
        let vector = [0.5f32, -1.25, 3.0];
        assert_eq!(from_blob(&to_blob(&vector)).collect::<Vec<_>>(), vector);
    }

    fn chunk(id: &str, text: &str, embedding: Vec<f32>, metadata: Map<String, Value>) -> IndexedChunk {
        IndexedChunk {
            chunk_id: id.into(),
            ordinal: 0,
            text: text.into(),
            citation: empty_citation(),
            metadata,
            embedding,
            parent: None,
        }
    }

    fn document(id: &str, version: u32, texts: &[String]) -> IndexedDocument {
        let mut metadata = Map::new();
        metadata.insert("shelf".into(), Value::from(id.len() % 3));
        IndexedDocument {
            document_id: id.into(),
            version,
            processed_at: chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + i64::from(version), 0).unwrap(),
            embedding: EmbeddingModel { model: "test".into(), dims: 4 },
            chunks: texts
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let seed = (id.len() * 31 + i * 7 + text.len()) as f32;
                    chunk(
                        &format!("{id}:{version}:{i}"),
                        text,
                        vec![seed.sin(), seed.cos(), 1.0, 0.5],
                        metadata.clone(),
                    )
                })
                .collect(),
        }
    }

    /// An empty index of 4-dimension vectors in a directory of its own, removed when the
    /// directory is dropped.
    fn test_index() -> (tempfile::TempDir, SqliteIndex) {
        let dir = tempfile::tempdir().unwrap();
        let index =
            SqliteIndex::open(&dir.path().join("index.sqlite"), EmbeddingModel { model: "test".into(), dims: 4 })
                .unwrap();
        (dir, index)
    }

    /// A seeded xorshift: each call a number below the one given.
    fn below(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed;
        move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    /// The postings' ranking is FTS5's: the same rows, order and scores for every query,
    /// filtered or not, after replacements and deletions changed the statistics. Words that
    /// stem alike, accents, digits and a word FTS5 splits in two are among them.
    #[tokio::test]
    async fn postings_rank_as_fts5_does() {
        let vocabulary = [
            "refund",
            "refunds",
            "refunding",
            "refunded",
            "policy",
            "policies",
            "shipping",
            "ships",
            "carrier",
            "carriers",
            "café",
            "cafe",
            "naïve",
            "Ünïcode",
            "2",
            "5",
            "wing",
            "wings",
            "lift",
            "drag",
            "हिन्दी",
        ];
        let mut next = below(11);
        let (_dir, index) = test_index();
        for d in 0..60 {
            let texts: Vec<String> = (0..1 + next(4))
                .map(|_| {
                    (0..1 + next(12))
                        .map(|_| {
                            // Skewed towards the list's first words, as word use is.
                            let within = next(vocabulary.len()) + 1;
                            vocabulary[next(within)]
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            index.upsert(&document(&format!("d{d}"), 1, &texts)).await.unwrap();
        }
        for d in (0..60).step_by(7) {
            index.upsert(&document(&format!("d{d}"), 2, &["refund policy".to_owned()])).await.unwrap();
        }
        for d in (3..60).step_by(11) {
            index.delete(&format!("d{d}"), Utc::now()).await.unwrap();
        }
        let shelf =
            Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters").unwrap();
        let connection = index.lock_writer().unwrap();
        let mut matrix = load_matrix(&connection, 4).unwrap();
        let mut compared = 0;
        for text in [
            "refund",
            "refunds policy",
            "cafe naïve",
            "Ünïcode 2 5",
            "wings lift drag carrier",
            "ships",
            "हिन्दी wing",
            "absent",
        ] {
            for (limit, filter) in [(3, None), (10, None), (50, None), (10, Some(shelf.clone()))] {
                let query = SearchQuery {
                    text: text.into(),
                    vector: None,
                    mode: SearchMode::Keyword,
                    top_k: limit,
                    filter,
                    fusion: crate::fuse::Fusion::default(),
                };
                let terms = keyword_terms(&connection, &query).unwrap();
                matrix.load_terms(&connection, terms.as_deref().unwrap_or_default()).unwrap();
                let found = matrix.keyword_ranking(&connection, &query, terms.as_deref(), limit).unwrap();
                let expected = matrix.fts5_keyword_ranking(&connection, &query, limit).unwrap();
                let rows = |ranking: &[(usize, f64)]| ranking.iter().map(|r| r.0).collect::<Vec<_>>();
                assert_eq!(rows(&found), rows(&expected), "{text:?} top {limit}");
                for (a, b) in found.iter().zip(&expected) {
                    assert!((a.1 - b.1).abs() <= 1e-9 * b.1.abs().max(1.0), "{text:?}: {} vs {}", a.1, b.1);
                }
                compared += expected.len();
            }
        }
        assert!(compared > 200, "the queries found too little to compare: {compared}");
        let words = keywords::query_words("हिन्दी refunds");
        assert_eq!(query_terms(&connection, &words).unwrap(), None, "a word FTS5 splits is a phrase");
        let words = keywords::query_words("Refunds CAFÉ");
        assert_eq!(query_terms(&connection, &words).unwrap(), Some(vec!["refund".to_owned(), "cafe".to_owned()]));
    }

    /// Row lengths come from FTS5's docsize table, as `bm25()` reads them: FTS5's token
    /// counts, at lengths written in one, two and three bytes.
    #[tokio::test]
    async fn row_lengths_are_fts5s_token_counts() {
        let (_dir, index) = test_index();
        let lengths = [1, 127, 128, 300, 20_000];
        let texts: Vec<String> =
            lengths.iter().map(|&n| (0..n).map(|i| format!("w{}", i % 50)).collect::<Vec<_>>().join(" ")).collect();
        index.upsert(&document("d", 1, &texts)).await.unwrap();
        let connection = index.lock_writer().unwrap();
        let mut statement = connection.prepare("SELECT id FROM chunks ORDER BY id").unwrap();
        let mut ids: Vec<i64> = statement.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(row_lengths(&connection, &ids).unwrap(), lengths);
        ids.insert(0, 0);
        ids.push(1_000_000);
        assert_eq!(
            row_lengths(&connection, &ids).unwrap(),
            [0, 1, 127, 128, 300, 20_000, 0],
            "rows FTS5 lacks are empty"
        );
    }

    /// Small writes after a search are followed in memory, not loaded again, and the index
    /// then answers exactly as one that loads the file: the same chunks, order, scores, ranks
    /// and metadata in every mode, filtered or not, though the statistics moved (words that
    /// stem alike, accents and a stop word included), for words whose postings it took in
    /// before the writes, after them, and one no row held when first searched for. A write too
    /// big to follow drops what it held.
    #[tokio::test]
    async fn small_writes_are_followed_in_memory_and_answer_as_a_fresh_load() {
        let words = ["refund", "the", "refunds", "policy", "café", "naïve", "2", "wing", "lift", "drag", "carrier"];
        let mut next = below(5);
        let mut document = |id: usize, version: u32| {
            let mut metadata = Map::new();
            metadata.insert("shelf".into(), Value::from(next(3)));
            IndexedDocument {
                document_id: format!("d{id}"),
                version,
                processed_at: chrono::TimeZone::timestamp_opt(&Utc, 1_700_000_000 + i64::from(version), 0).unwrap(),
                embedding: EmbeddingModel { model: "test".into(), dims: 4 },
                chunks: (0..1 + next(3))
                    .map(|i| {
                        let length = 1 + next(15);
                        let text: Vec<&str> = (0..length)
                            .map(|_| {
                                // Skewed towards the list's first words, as word use is.
                                let within = next(words.len()) + 1;
                                words[next(within)]
                            })
                            .collect();
                        let vector = (0..4).map(|_| next(2001) as f32 / 1000.0 - 1.0).collect();
                        chunk(&format!("d{id}:{version}:{i}"), &text.join(" "), vector, metadata.clone())
                    })
                    .collect(),
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let index = SqliteIndex::open(&path, EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
        for d in 0..200 {
            index.upsert(&document(d, 1)).await.unwrap();
        }
        let query = |text: &str, mode, filter: Option<Predicate>| SearchQuery {
            text: text.into(),
            vector: Some(vec![0.3, -0.4, 0.8, 0.1]),
            mode,
            top_k: 20,
            filter,
            fusion: crate::fuse::Fusion::default(),
        };
        assert!(!index.search(&query("refund", SearchMode::Hybrid, None)).await.unwrap().is_empty());
        assert!(index.search(&query("zephyr", SearchMode::Keyword, None)).await.unwrap().is_empty());
        assert!(index.holds_matrix());
        for d in (0..200).step_by(20) {
            index.upsert(&document(d, 2)).await.unwrap();
        }
        for d in 200..205 {
            index.upsert(&document(d, 1)).await.unwrap();
        }
        // A word searched for before any row held it.
        let mut zephyr = document(205, 1);
        zephyr.chunks[0].text = "zephyr refund".into();
        index.upsert(&zephyr).await.unwrap();
        for d in (5..200).step_by(25) {
            index.delete(&format!("d{d}"), Utc::now()).await.unwrap();
        }
        assert!(index.holds_matrix(), "these writes are small beside 200 documents: followed in memory");
        let shelf =
            Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters").unwrap();
        let compare = |index: &SqliteIndex, loaded: &SqliteIndex| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut compared = 0;
            for text in ["refund", "refunds policy", "cafe naïve 2", "wing lift drag carrier", "zephyr", "absent"] {
                for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
                    for filter in [None, Some(shelf.clone())] {
                        let query = query(text, mode, filter);
                        let hits = runtime.block_on(index.search(&query)).unwrap();
                        let expected = runtime.block_on(loaded.search(&query)).unwrap();
                        assert_eq!(hits, expected, "{text:?} {mode:?} filtered: {}", query.filter.is_some());
                        compared += hits.len();
                    }
                }
            }
            assert!(compared > 300, "too little to compare: {compared}");
        };
        let loaded = SqliteIndex::open(&path, EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
        std::thread::scope(|scope| scope.spawn(|| compare(&index, &loaded)).join().unwrap());
        for d in 0..100 {
            index.upsert(&document(d, 3)).await.unwrap();
        }
        assert!(!index.holds_matrix(), "half the documents replaced: the next search loads the file again");
        let loaded = SqliteIndex::open(&path, EmbeddingModel { model: "test".into(), dims: 4 }).unwrap();
        std::thread::scope(|scope| scope.spawn(|| compare(&index, &loaded)).join().unwrap());
    }

    /// A word FTS5 holds only for a row the index does not (a file another program wrote to)
    /// is taken in with no rows, once: the search answers, and the next one does not ask again.
    #[test]
    fn a_word_held_only_by_a_row_outside_the_index_is_taken_in_empty() {
        let (_dir, index) = test_index();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(index.upsert(&document("d", 1, &["refund policy".to_owned()]))).unwrap();
        index
            .lock_writer()
            .unwrap()
            .execute("INSERT INTO chunks_fts (rowid, text) VALUES (999999, 'orphan refund')", [])
            .unwrap();
        let query = SearchQuery {
            text: "orphan refund".into(),
            vector: None,
            mode: SearchMode::Keyword,
            top_k: 10,
            filter: None,
            fusion: crate::fuse::Fusion::default(),
        };
        // On a thread of its own, so a search that never ends fails the test, not hangs it.
        let index = std::sync::Arc::new(index);
        let (searcher, sent) = (std::sync::Arc::clone(&index), std::sync::mpsc::channel());
        std::thread::spawn(move || {
            for _ in 0..2 {
                let _ = sent.0.send(runtime.block_on(searcher.search(&query)));
            }
        });
        for _ in 0..2 {
            let hits = sent.1.recv_timeout(std::time::Duration::from_secs(20)).expect("the search ends").unwrap();
            assert_eq!(hits.iter().map(|h| h.document_id.as_str()).collect::<Vec<_>>(), ["d"]);
        }
    }

    /// Chunks with equal metadata share one copy in memory, and a filter, decided once per
    /// copy, still lets through exactly the rows whose metadata matches, in every mode.
    #[tokio::test]
    async fn equal_metadata_is_held_once_and_filters_still_choose_row_by_row() {
        let (_dir, index) = test_index();
        // Shelf = the id's length mod 3: "a" and "dddd" on shelf 1, "bb" on 2, "ccc" on 0.
        for id in ["a", "bb", "ccc", "dddd"] {
            let texts: Vec<String> = (0..3).map(|i| format!("refund policy {id} part {i}")).collect();
            index.upsert(&document(id, 1, &texts)).await.unwrap();
        }
        {
            let connection = index.lock_writer().unwrap();
            let matrix = load_matrix(&connection, 4).unwrap();
            assert_eq!(matrix.metadata_copies(), 3, "one copy per distinct metadata, not per chunk");
        }
        let shelf =
            Predicate::compile(&serde_json::from_value(serde_json::json!({"shelf": 1})).unwrap(), "filters").unwrap();
        for mode in [SearchMode::Vector, SearchMode::Keyword, SearchMode::Hybrid] {
            for filter in [None, Some(shelf.clone())] {
                let query = SearchQuery {
                    text: "refund policy".into(),
                    vector: Some(vec![0.3, 0.4, 1.0, 0.5]),
                    mode,
                    top_k: 50,
                    filter: filter.clone(),
                    fusion: crate::fuse::Fusion::default(),
                };
                let hits = index.search(&query).await.unwrap();
                let mut documents: Vec<&str> = hits.iter().map(|h| h.document_id.as_str()).collect();
                documents.sort_unstable();
                let expected: &[&str] = if filter.is_some() {
                    &["a", "a", "a", "dddd", "dddd", "dddd"]
                } else {
                    &["a", "a", "a", "bb", "bb", "bb", "ccc", "ccc", "ccc", "dddd", "dddd", "dddd"]
                };
                assert_eq!(documents, expected, "{mode:?}, filtered: {}", filter.is_some());
                for hit in &hits {
                    let shelf = hit.chunk.metadata.get("shelf").and_then(Value::as_u64);
                    assert_eq!(shelf, Some(hit.document_id.len() as u64 % 3), "{}'s metadata", hit.chunk.chunk_id);
                }
            }
        }
    }

    /// Searches on several threads while documents are replaced: every search succeeds and
    /// sees each document whole, at one version (a search never reads rows of a write that
    /// began after its matrix was loaded).
    #[test]
    fn searches_run_side_by_side_with_writes() {
        let (_dir, index) = test_index();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let texts =
            |version: u32| vec![format!("refund policy version {version}"), format!("refund desk version {version}")];
        for d in 0..20 {
            runtime.block_on(index.upsert(&document(&format!("d{d}"), 1, &texts(1)))).unwrap();
        }
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    for i in 0..100 {
                        let mode = [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid][i % 3];
                        let query = SearchQuery {
                            text: "refund".into(),
                            vector: Some(vec![0.5, 0.5, 0.5, 0.5]),
                            mode,
                            top_k: 50,
                            filter: None,
                            fusion: crate::fuse::Fusion::default(),
                        };
                        let hits = runtime.block_on(index.search(&query)).unwrap();
                        assert_eq!(hits.len(), 40, "{mode:?}: every chunk of every document");
                        for hit in &hits {
                            assert!(hit.chunk.text.ends_with(&format!("version {}", hit.version)), "{hit:?}");
                        }
                    }
                });
            }
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                for version in 2..60 {
                    let d = version % 20;
                    runtime.block_on(index.upsert(&document(&format!("d{d}"), version, &texts(version)))).unwrap();
                }
            });
        });
    }
}
