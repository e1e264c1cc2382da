//! Bulk loads: many documents into an empty index by COPY, with the indexes built once after.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::vector_parts::{
    part_condition, part_index_name, part_keyword_index_name, DROP_PART_ONLY_INDEXES, IVFFLAT_PARTS,
};
use super::write::ChunkColumns;
use super::{database_error, PostgresIndex};
use crate::index::{check_model, IndexError, IndexedDocument};

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
/// `ivfflat_min_chunks`, else IVFFlat over the same expression in [`IVFFLAT_PARTS`] parts,
/// the first under the same name, so searches and migrations treat both alike; each part has
/// the lists pgvector advises for its share of the rows, and a keyword index of its own (the
/// whole keyword index, built after, serves every other search). IVFFlat learns its lists
/// from the rows, so it is only built where there are rows to learn from.
fn bulk_vector_index(chunks: u64, ivfflat_min_chunks: u64) -> String {
    if chunks < ivfflat_min_chunks {
        return vector_index!().to_owned();
    }
    let lists = ivfflat_lists(chunks / IVFFLAT_PARTS);
    (0..IVFFLAT_PARTS)
        .map(|part| {
            let condition = part_condition("chunk_id", part, IVFFLAT_PARTS);
            format!(
                "CREATE INDEX {} ON {{schema}}.chunks
                     USING ivfflat ((embedding::halfvec({{dims}})) halfvec_cosine_ops) WITH (lists = {lists})
                     WHERE {condition};
                 CREATE INDEX {} ON {{schema}}.chunks USING gin (tsv) WHERE {condition};\n",
                part_index_name(part),
                part_keyword_index_name(part),
            )
        })
        .collect()
}

/// A bulk load's `maintenance_work_mem` unless told otherwise: enough for HNSW's graph of
/// 100k 384-dimension vectors, and within what a small database instance has.
pub(super) const BUILD_MEMORY_MIB: u32 = 1024;

impl PostgresIndex {
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
        tx.batch_execute(&self.sql(&format!("{BULK_DROP_INDEXES}{DROP_PART_ONLY_INDEXES}")))
            .await
            .map_err(database_error)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(big.contains("USING ivfflat") && big.contains("lists = 125"), "each part's share: {big}");
        assert_eq!(big.matches("USING ivfflat").count(), 2, "{big}");
        assert_eq!(big.matches("USING gin").count(), 2, "a keyword index for each part: {big}");
        assert!(
            big.contains("chunks_embedding_half_idx ON {schema}.chunks"),
            "the name and schema searches look for: {big}"
        );
    }
}
