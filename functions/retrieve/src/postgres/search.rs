//! Searching: the vector and keyword lists as SQL, hybrid's fusion in one statement or of two
//! lists ranked at once, and rows read back as hits.

use std::collections::HashMap;

use pgvector::Vector;
use seams_contracts::process::ParentChunk;
use seams_contracts::retrieve::{Citation, Ranks, SearchMode};
use serde_json::{Map, Value};
use tokio_postgres::{Client, Row};

use super::filter_sql::{filter_sql, Params};
use super::keyword_sql::{bm25_top_sql, tsquery};
use super::{database_error, unavailable, PostgresIndex};
use crate::index::{Hit, IndexError, IndexedChunk, SearchQuery};

/// The share of an IVFFlat index's lists a search probes, in percent, unless told otherwise
/// ([`PostgresIndex::with_ivfflat_probes_percent`], `SEAMS_IVFFLAT_PROBES_PERCENT`). On the
/// bench's hashing vectors at 100k chunks, 40% reached recall@10 0.971–0.979 unfiltered and
/// 0.967–0.975 with a 10% filter over three builds; 34% reached 0.948–0.970 and 0.951–0.961
/// over eight, once under the goal of 0.95, as k-means learns other lists each time; a
/// quarter 0.94 / 0.93 (bench/RESULTS.md, issue 19). Learned embeddings cluster and reach the
/// same recall probing fewer.
pub const IVFFLAT_PROBES_PERCENT: usize = 40;

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
    /// The query's hits: one statement, or hybrid's two lists at once when so configured.
    pub(super) async fn search_chunks(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
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
