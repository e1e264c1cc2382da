//! Searching: the vector and keyword lists as SQL, hybrid's fusion in one statement (or its
//! lists for `at_once` to fuse), and rows read back as hits.

use std::sync::atomic::Ordering;

use pgvector::Vector;
use seams_contracts::process::ParentChunk;
use seams_contracts::retrieve::{Citation, Ranks, SearchMode};
use serde_json::{Map, Value};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use super::filter_sql::{filter_sql, Params};
use super::keyword_sql::{bm25_top_sql, tsquery};
use super::vector_parts::{part_condition, PartsSearched, LATER_PARTS_PATTERN};
use super::{database_error, prepared, unavailable, PostgresIndex, Session};
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

pub(super) const COLUMNS: &str = "c.chunk_id, c.document_id, c.version, c.ordinal, c.text, c.citation, c.metadata, c.embedding, p.parent_id, p.text AS parent_text";

pub(super) fn read_hit(row: &Row, score: f64, ranks: Ranks) -> Result<Hit, IndexError> {
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
    /// The query's hits: one statement, or hybrid's lists at once when so configured.
    pub(super) async fn search_chunks(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        let words = tsquery(&query.text);
        if query.mode == SearchMode::Keyword && words.is_none() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let at_once = self.hybrid_lists_at_once.now(self.others_running());
        if query.mode == SearchMode::Hybrid && at_once && words.is_some() && query.vector.is_some() {
            if let Some(hits) = self.hybrid_lists_at_once(&mut client, query, &words).await? {
                return Ok(hits);
            }
        }
        self.ranked(&mut client, query, words, Returned::Hits, PartsSearched::Every)
            .await?
            .iter()
            .map(|row| {
                let ranks = Ranks { vector: rank_of(row, "vector_rank")?, keyword: rank_of(row, "keyword_rank")? };
                read_hit(row, row.try_get("score").map_err(unavailable)?, ranks)
            })
            .collect()
    }

    /// A search's rows: whole hits, best first, or ([`Returned::Lists`]) its vector list, its
    /// keyword list or both. `parts` says which parts of a vector index in parts it ranks:
    /// one part's lists rank that part's chunks, by vector and by keyword.
    pub(super) async fn ranked(
        &self,
        session: &mut Session,
        query: &SearchQuery,
        words: Option<String>,
        returned: Returned,
        parts: PartsSearched,
    ) -> Result<Vec<Row>, IndexError> {
        // Hybrid's lists at once prepare their statements once on each connection: planning the
        // keyword list took 2–5 ms of each (bench/RESULTS.md, decision 46).
        let prepare = returned == Returned::Lists;
        let Session { client, prepared: cache, .. } = session;
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
        // One round trip sets all this, finds which vector index the schema has and, for
        // hybrid's lists at once while idle, counts the other queries running.
        let ef_search = candidates.saturating_mul(4).max(self.ef_search).min(HNSW_MAX_EF_SEARCH).to_string();
        let sequential_scan = if query.filter.is_none() && query.mode != SearchMode::Keyword { "off" } else { "on" };
        let half_index = format!("{}.chunks_embedding_half_idx", self.settings.schema);
        let probes_percent = i32::try_from(self.ivfflat_probes_percent).unwrap_or(100);
        let others_running = self.hybrid_lists_at_once.others_running_sql();
        let settings_sql = &format!(
            "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', $1, true),
                        set_config('enable_seqscan', $2, true), to_regclass($3) IS NOT NULL,
                        set_config('ivfflat.iterative_scan', 'relaxed_order', true),
                        set_config('ivfflat.probes', (
                            SELECT coalesce(max(ceil(split_part(o, '=', 2)::numeric * $4::int4 / 100)), 1)::int::text
                            FROM pg_class i, unnest(i.reloptions) o
                            WHERE i.oid = to_regclass($3) AND o LIKE 'lists=%'), true),
                        (SELECT 1 + count(*) FROM pg_class
                         WHERE relnamespace = to_regnamespace($5) AND relkind = 'i' AND relname ~ $6),
                        {others_running}"
        );
        let settings_params: [(&(dyn ToSql + Sync), Type); 6] = [
            (&ef_search, Type::TEXT),
            (&sequential_scan, Type::TEXT),
            (&half_index, Type::TEXT),
            (&probes_percent, Type::INT4),
            (&self.settings.schema, Type::TEXT),
            (&LATER_PARTS_PATTERN, Type::TEXT),
        ];
        let settings = if prepare {
            let statement = prepared(cache, &tx, settings_sql).await.map_err(database_error)?;
            let values: Vec<&(dyn ToSql + Sync)> = settings_params.iter().map(|(value, _)| *value).collect();
            tx.query_one(&statement, &values).await
        } else {
            // Typed, so one round trip: an untyped statement is prepared in one and run in another.
            tx.query_typed_one(settings_sql, &settings_params).await
        }
        .map_err(database_error)?;
        let half_precision: bool = settings.get(3);
        let held_parts = u64::try_from(settings.get::<_, i64>(6)).unwrap_or(1).max(1);
        self.vector_parts.store(held_parts, Ordering::Relaxed);
        // Hybrid's lists at once run beside each other: each would count the others.
        if returned == Returned::Hits {
            self.saw_others_running(settings.get(7));
        }
        let searched_parts = parts.parts(held_parts);
        if searched_parts.is_empty() {
            return Ok(Vec::new()); // other statements search this schema's parts
        }
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
            let margin = limit(candidates.saturating_add(EXACT_CUT_MARGIN));
            // One candidate list per part searched, each from its part's index (a schema of
            // one part has no condition to meet).
            let part_lists: Vec<String> = searched_parts
                .clone()
                .map(|part| {
                    let part = if held_parts > 1 {
                        format!(" AND {}", part_condition("c.chunk_id", part, held_parts))
                    } else {
                        String::new()
                    };
                    format!(
                        "(SELECT c.chunk_id, c.embedding FROM {{schema}}.chunks c WHERE {filter}{part} ORDER BY {order} LIMIT {margin})"
                    )
                })
                .collect();
            // A few more candidates than needed come by the index's order, so the exact ranking
            // decides the cut, not half precision's rounding or which of two equals the graph
            // met first. The margin is fixed, not a multiple: a filtered HNSW scan reads on
            // until that many rows pass the filter, about ten index entries for each one at a
            // 10% filter.
            // The exact distance is taken outside the LIMIT: a sequential scan (a filtered
            // search) would otherwise compute it for every matching row.
            // Ties by chunk id in bytes, as hybrid's lists at once merge the parts' lists.
            format!(
                "SELECT chunk_id, rank, score, distance FROM (
                    SELECT chunk_id, row_number() OVER (ORDER BY distance, chunk_id COLLATE \"C\") AS rank, 1 - distance AS score, distance FROM (
                        SELECT chunk_id, embedding <=> {q}::vector AS distance FROM ({}) n) v) r
                 WHERE rank <= {}",
                part_lists.join(" UNION ALL "),
                limit(candidates)
            )
        };
        // A list of one part of several ranks that part's chunks by keyword too.
        let keyword_filter = if held_parts > 1 && searched_parts.end - searched_parts.start == 1 {
            format!("{filter} AND {}", part_condition("c.chunk_id", searched_parts.start, held_parts))
        } else {
            filter.clone()
        };
        let rare_postings = self.rare_postings.of_search(query.filter.is_some());
        let keyword_list = |params: &mut Params| {
            let tsquery = params.add(words.clone().unwrap_or_default());
            let words = params.add(words.clone().unwrap_or_default().replace(" | ", " "));
            format!(
                "SELECT chunk_id, row_number() OVER (ORDER BY score DESC, chunk_id COLLATE \"C\") AS rank, score FROM ({}) k",
                bm25_top_sql(&tsquery, &words, &keyword_filter, limit(candidates), rare_postings)
            )
        };
        let sql = match query.mode {
            // A list's rows: which list, the chunk, and a key that orders the list ascending.
            SearchMode::Vector if returned == Returned::Lists => {
                format!("WITH v AS ({}) SELECT {VECTOR_LIST}, chunk_id, distance AS key FROM v", vector_list(&mut params))
            }
            SearchMode::Keyword if returned == Returned::Lists => {
                format!("WITH k AS ({}) SELECT {KEYWORD_LIST}, chunk_id, -score AS key FROM k", keyword_list(&mut params))
            }
            SearchMode::Hybrid if returned == Returned::Lists => format!(
                "WITH v AS ({}), k AS ({})
                 SELECT {VECTOR_LIST}, chunk_id, distance AS key FROM v UNION ALL SELECT {KEYWORD_LIST}, chunk_id, -score FROM k",
                vector_list(&mut params),
                keyword_list(&mut params)
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
        let rows = if prepare {
            match prepared(cache, &tx, &sql).await {
                Ok(statement) => tx.query(&statement, &params.refs()).await,
                Err(error) => Err(error),
            }
        } else {
            tx.query(&sql, &params.refs()).await
        };
        let rows = match rows {
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
}

/// What [`PostgresIndex::ranked`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Returned {
    /// Whole hits, best first.
    Hits,
    /// The vector or keyword list, or both, of rows (list, chunk id, key): each list's
    /// order is its keys' ascending, ties by chunk id.
    Lists,
}

/// Which list a row of [`Returned::Lists`] belongs to.
pub(super) const VECTOR_LIST: i32 = 0;
const KEYWORD_LIST: i32 = 1;
