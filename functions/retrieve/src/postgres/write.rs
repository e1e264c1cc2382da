//! Writing one document at a time: its chunks replace the ones it had, and BM25's statistics
//! follow, in one transaction.

use chrono::{DateTime, Utc};
use pgvector::Vector;
use serde_json::Value;

use super::{database_error, PostgresIndex};
use crate::index::{check_model, normalised, IndexError, IndexedChunk, IndexedDocument, Upserted};

impl PostgresIndex {
    /// Writes a document's chunks in place of those it had, unless the index holds a newer
    /// version or a later deletion.
    pub(super) async fn upsert_document(&self, document: &IndexedDocument) -> Result<Upserted, IndexError> {
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

    /// Records the deletion and removes the document's chunks and their counts.
    pub(super) async fn delete_document(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError> {
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
pub(super) struct ChunkColumns {
    pub(super) chunk_ids: Vec<String>,
    pub(super) ordinals: Vec<i32>,
    pub(super) texts: Vec<String>,
    pub(super) citations: Vec<Value>,
    pub(super) metadata: Vec<Value>,
    pub(super) embeddings: Vec<Vector>,
    pub(super) parent_ids: Vec<Option<String>>,
    /// Each parent once, in order.
    pub(super) parents: Vec<(String, String)>,
}

impl ChunkColumns {
    pub(super) fn push(&mut self, chunk: &IndexedChunk) -> Result<(), IndexError> {
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
