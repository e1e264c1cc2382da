//! Hybrid's lists ranked at once, each on a connection of its own (decisions 41, 46 and 47):
//! when to, the statements started, their lists merged and fused here, and the fused top k's
//! rows read.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use seams_contracts::retrieve::SearchMode;
use tokio_postgres::Row;

use super::search::{read_hit, Returned, COLUMNS, VECTOR_LIST};
use super::vector_parts::PartsSearched;
use super::{database_error, prepared, unavailable, PostgresIndex, Session, MAX_PARTS_AT_ONCE};
use crate::index::{Hit, IndexError, SearchQuery};

/// When hybrid ranks its lists at once, each on a connection of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListsAtOnce {
    /// Never: one statement on one connection (the default).
    #[default]
    Never,
    /// While the last search saw no other query of the database role running: the lists
    /// overlap only if the database has a core free for each, and under load they cost more
    /// than they save (decision 47). Until a search has looked, one statement.
    WhileIdle,
    /// On every hybrid search, busy or not.
    Always,
}

impl ListsAtOnce {
    /// Whether a hybrid search ranks its lists at once, given how many other queries of the
    /// role the last search saw running (`None`: no search has looked yet).
    pub(super) fn now(self, others_running: Option<u64>) -> bool {
        match self {
            ListsAtOnce::Never => false,
            ListsAtOnce::WhileIdle => others_running == Some(0),
            ListsAtOnce::Always => true,
        }
    }

    /// A column counting the other queries of the database role running, where [`Self::now`]
    /// needs the count; else NULL, as reading `pg_stat_activity` copies every backend's entry.
    /// Other roles' queries show no state to an unprivileged role, and this role's are
    /// retrieve's own load (its other function instances, its indexer).
    pub(super) fn others_running_sql(self) -> &'static str {
        match self {
            ListsAtOnce::WhileIdle => {
                "(SELECT count(*) FROM pg_stat_activity
                  WHERE state = 'active' AND backend_type = 'client backend' AND usename = current_user
                    AND pid <> pg_backend_pid())"
            }
            ListsAtOnce::Never | ListsAtOnce::Always => "NULL::bigint",
        }
    }
}

impl PostgresIndex {
    /// Hybrid as lists ranked at once, each on a connection of its own, merged and fused here
    /// as the one statement fuses them (ties by vector rank, then keyword rank); then the
    /// fused top k's rows. A vector index in parts (decision 46) gives one statement per part,
    /// ranking both lists over that part's chunks; else the vector list and the keyword list
    /// are the two. `None` when there is no second connection (say, the role's or the
    /// server's limit): one statement answers instead.
    pub(super) async fn hybrid_lists_at_once(
        &self,
        client: &mut Session,
        query: &SearchQuery,
        words: &Option<String>,
    ) -> Result<Option<Vec<Hit>>, IndexError> {
        // As many parts as the last search found; until one has, two lists.
        let parts = match self.vector_parts.load(Ordering::Relaxed) {
            parts @ 2..=MAX_PARTS_AT_ONCE => parts,
            _ => 1,
        };
        let mut others = Vec::new();
        for slot in self.more_clients.iter().take(usize::try_from(parts.max(2) - 1).unwrap_or(1)) {
            match self.connection(slot).await {
                Ok(other) => others.push(other),
                Err(error) => {
                    tracing::warn!(%error, "no connection for one of hybrid's lists");
                    break;
                }
            }
        }
        let depth = query.fusion.candidates.max(query.top_k);
        let list = |mode| SearchQuery { mode, top_k: depth, ..query.clone() };
        let rows: Vec<Row> = match others.len() {
            0 => return Ok(None),
            found if parts > 1 && found + 1 == usize::try_from(parts).unwrap_or(0) => {
                let hybrid = list(SearchMode::Hybrid);
                let statements = std::iter::once(&mut *client).chain(others.iter_mut().map(|c| &mut **c)).zip(0..).map(
                    |(client, part)| {
                        self.ranked(
                            client,
                            &hybrid,
                            words.clone(),
                            Returned::Lists,
                            PartsSearched::One { part, of: parts },
                        )
                    },
                );
                futures::future::try_join_all(statements).await?.into_iter().flatten().collect()
            }
            _ => {
                let (vector, keyword) = (list(SearchMode::Vector), list(SearchMode::Keyword));
                let (vector, keyword) = tokio::try_join!(
                    self.ranked(client, &vector, None, Returned::Lists, PartsSearched::Every),
                    self.ranked(&mut others[0], &keyword, words.clone(), Returned::Lists, PartsSearched::Every),
                )?;
                vector.into_iter().chain(keyword).collect()
            }
        };
        drop(others);
        let (vector, keyword) = merged_lists(rows, depth)?;
        let mut fused = query.fusion.fuse(&vector, &keyword);
        fused.truncate(query.top_k);
        if fused.is_empty() {
            return Ok(Some(Vec::new())); // nothing matched, or nothing is indexed yet (no table)
        }
        let wanted: Vec<&str> = fused.iter().map(|(id, _, _)| id.as_str()).collect();
        // The lists' statements have ended, so the others running are not this search's.
        let others_running = self.hybrid_lists_at_once.others_running_sql();
        let sql = self.sql(&format!(
            "SELECT {COLUMNS}, {others_running} AS others_running
             FROM {{schema}}.chunks c LEFT JOIN {{schema}}.parents p ON p.parent_id = c.parent_id
             WHERE c.chunk_id = ANY ($1)"
        ));
        let statement = prepared(&mut client.prepared, &client.client, &sql).await.map_err(database_error)?;
        let rows = client.client.query(&statement, &[&wanted]).await.map_err(database_error)?;
        if let Some(row) = rows.first() {
            self.saw_others_running(row.try_get("others_running").map_err(unavailable)?);
        }
        let mut rows: HashMap<String, Row> = rows
            .into_iter()
            .map(|row| Ok((row.try_get("chunk_id").map_err(unavailable)?, row)))
            .collect::<Result<_, IndexError>>()?;
        // A chunk deleted since its list was ranked is left out, as a search a moment later would.
        fused
            .into_iter()
            .filter_map(|(id, ranks, score)| rows.remove(&id).map(|row| read_hit(&row, score, ranks)))
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// The vector and keyword lists in [`Returned::Lists`]' rows from one or more statements,
/// each cut to `depth`: as one list over every part ranks them.
fn merged_lists(rows: Vec<Row>, depth: usize) -> Result<(Vec<String>, Vec<String>), IndexError> {
    let (mut vector, mut keyword) = (Vec::new(), Vec::new());
    for row in rows {
        let (list, chunk_id, key): (i32, String, f64) = (
            row.try_get(0).map_err(unavailable)?,
            row.try_get(1).map_err(unavailable)?,
            row.try_get(2).map_err(unavailable)?,
        );
        if list == VECTOR_LIST { &mut vector } else { &mut keyword }.push((key, chunk_id));
    }
    let ranked = |mut list: Vec<(f64, String)>| {
        list.sort_by(|(a, a_id), (b, b_id)| a.total_cmp(b).then_with(|| a_id.cmp(b_id)));
        list.into_iter().take(depth).map(|(_, id)| id).collect()
    };
    Ok((ranked(vector), ranked(keyword)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn while_idle_ranks_at_once_only_after_a_search_saw_nothing_else_running() {
        for seen in [None, Some(0), Some(1), Some(7)] {
            assert!(!ListsAtOnce::Never.now(seen));
            assert!(ListsAtOnce::Always.now(seen));
            assert_eq!(ListsAtOnce::WhileIdle.now(seen), seen == Some(0), "{seen:?}");
        }
    }
}
