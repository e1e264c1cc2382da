//! What a search holds in memory (each row's vector, codes and metadata, and the keyword
//! postings of the terms searched for so far), loaded from the file and kept up with small
//! writes, and the rankings it answers.

use std::cell::Cell;
use std::collections::HashMap;

use rusqlite::{params, Connection};
use seams_contracts::process::ParentChunk;
use seams_contracts::retrieve::{Ranks, SearchMode};
use serde_json::{Map, Value};

use crate::filter::Predicate;
use crate::index::{Hit, IndexError, IndexedChunk, SearchQuery};
use crate::keywords;
use crate::postings::Postings;
use crate::quantised::Codes;

/// Each vector scan re-scores this many candidates per result exactly (bench/RESULTS.md:
/// recall@10 against the exact scan).
const CANDIDATES_PER_RESULT: usize = 4;
const MIN_CANDIDATES: usize = 40;

/// What a search needs in memory: each row's identity and metadata, its vector (exact, and
/// as codes for the scan), and the keyword postings: every row's length, and each term's rows
/// from the first search for it (a load reads none, so it costs what the rows cost). Row `i`
/// is the chunk of rowid `ids[i]`.
/// Rows with equal metadata share one copy: a document's chunks carry its metadata, so there
/// are far fewer copies than rows, and a filter is tested at most once per copy.
#[derive(Default)]
pub(super) struct Matrix {
    dims: usize,
    ids: Vec<i64>,
    chunk_ids: Vec<String>,
    /// Row-major, unit length: row `i` is `vectors[i * dims..(i + 1) * dims]`. Re-scoring
    /// from here rather than from the file keeps hybrid's 200 candidates under a millisecond.
    vectors: Vec<f32>,
    codes: Codes,
    postings: Postings,
    /// The distinct metadata objects; row `i`'s is `metadata[metadata_of[i]]`.
    metadata: Vec<Map<String, Value>>,
    metadata_of: Vec<u32>,
    /// Live rows by rowid (a removed row is in no ranking: the postings mark it).
    position: HashMap<i64, usize>,
    /// Rows at the load, and rows added or removed since: past a share of the load, the next
    /// search loads the file again rather than carry the removed rows.
    loaded_rows: usize,
    changed_rows: usize,
}

/// What a committed write did to the rows, for the matrix to follow it.
#[derive(Default)]
pub(super) struct RowChanges {
    /// Each removed row's rowid and the text FTS5 indexed for it.
    pub removed: Vec<(i64, String)>,
    pub added: Vec<AddedRow>,
}

pub(super) struct AddedRow {
    pub id: i64,
    pub chunk_id: String,
    /// As stored: serde_json's text of the map.
    pub metadata: String,
    /// Unit length, as stored.
    pub vector: Vec<f32>,
    /// What FTS5 indexed ([`keywords::indexed_text`]).
    pub indexed_text: String,
}

/// Rows changed since the load that the matrix follows in place, as a share of the rows
/// loaded (bench/RESULTS.md: the first search after a write).
const FOLLOWED_SHARE: usize = 4;

/// Which rows a query's filter lets through, decided once per distinct metadata object, when
/// a row holding it is first asked about: a vector scan asks about every row, a keyword
/// search only about its candidates.
struct RowFilter<'a> {
    matrix: &'a Matrix,
    /// `None` without a filter: every row passes, but removed ones.
    filter: Option<&'a Predicate>,
    /// Per row, whether a write removed it (empty while none has): held here, not looked up
    /// through the matrix, since the scan asks about every row.
    removed: &'a [bool],
    /// Per metadata object: not yet decided, or its answer.
    decided: Vec<Cell<Option<bool>>>,
}

impl RowFilter<'_> {
    fn passes(&self, row: usize) -> bool {
        // The filter first: in a filtered scan it turns most rows away by one lookup.
        self.filter_passes(row) && !self.removed.get(row).copied().unwrap_or(false)
    }

    fn filter_passes(&self, row: usize) -> bool {
        let Some(filter) = self.filter else { return true };
        let Some(&copy) = self.matrix.metadata_of.get(row) else { return false };
        let (Some(decided), Some(metadata)) =
            (self.decided.get(copy as usize), self.matrix.metadata.get(copy as usize))
        else {
            return false;
        };
        decided.get().unwrap_or_else(|| {
            let pass = filter.matches(metadata);
            decided.set(Some(pass));
            pass
        })
    }
}

pub(super) fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn from_blob(blob: &[u8]) -> impl Iterator<Item = f32> + '_ {
    blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(super) fn load_matrix(connection: &Connection, dims: usize) -> rusqlite::Result<Matrix> {
    let mut matrix = Matrix { dims, codes: Codes::new(dims), ..Matrix::default() };
    let mut distinct = HashMap::new();
    let mut statement = connection.prepare("SELECT id, chunk_id, metadata, embedding FROM chunks ORDER BY id")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let copy = matrix.metadata_copy(&mut distinct, row.get_ref(2)?.as_str()?);
        matrix.push_row(row.get(0)?, row.get(1)?, copy, from_blob(row.get_ref(3)?.as_blob()?));
    }
    matrix.postings = Postings::new(row_lengths(connection, &matrix.ids)?);
    matrix.loaded_rows = matrix.ids.len();
    Ok(matrix)
}

/// Each text's tokens as the index's tokenizer makes them, one entry per occurrence, through
/// the scratch table (contentless: emptying it does not tokenize its texts again).
fn tokens<'a>(connection: &Connection, texts: impl Iterator<Item = &'a str>) -> rusqlite::Result<Vec<Vec<String>>> {
    connection.execute("INSERT INTO temp.scratch_texts (scratch_texts) VALUES ('delete-all')", [])?;
    let mut insert = connection.prepare_cached("INSERT INTO temp.scratch_texts (rowid, text) VALUES (?1, ?2)")?;
    let mut tokens = Vec::new();
    for (i, text) in texts.enumerate() {
        insert.execute(params![i as i64, text])?;
        tokens.push(Vec::new());
    }
    let mut statement = connection.prepare_cached("SELECT doc, term FROM temp.scratch_tokens")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        if let Some(text) = usize::try_from(row.get::<_, i64>(0)?).ok().and_then(|doc| tokens.get_mut(doc)) {
            text.push(row.get(1)?);
        }
    }
    Ok(tokens)
}

/// Each row's length in tokens, as FTS5 counted it for `bm25()`: its docsize table holds a
/// varint per column for each row (one column here). `ids` ascending, as loaded.
pub(super) fn row_lengths(connection: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<u32>> {
    let mut lengths = vec![0; ids.len()];
    let mut statement = connection.prepare("SELECT id, sz FROM chunks_fts_docsize ORDER BY id")?;
    let mut rows = statement.query([])?;
    let mut at = 0;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        at += ids[at..].partition_point(|&held| held < id);
        if let (Some(length), Some(&held)) = (lengths.get_mut(at), ids.get(at)) {
            if held == id {
                let size = row.get_ref(1)?.as_blob().ok().and_then(first_varint).unwrap_or(0);
                *length = u32::try_from(size).unwrap_or(u32::MAX);
            }
        }
    }
    Ok(lengths)
}

/// The first of SQLite's varints in `bytes` (FTS5 writes its sizes so): big-endian, seven
/// bits a byte while the top bit is set, all eight bits of a ninth.
fn first_varint(bytes: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some((value << 8) | u64::from(byte));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The terms a search ranks keywords by (none in vector mode, or for a query without
/// words), or `None` when FTS5 must rank the query itself.
pub(super) fn keyword_terms(connection: &Connection, query: &SearchQuery) -> rusqlite::Result<Option<Vec<String>>> {
    let words = keywords::query_words(&query.text);
    if query.mode == SearchMode::Vector || words.is_empty() {
        return Ok(Some(Vec::new()));
    }
    query_terms(connection, &words)
}

/// The query's words as FTS5 tokenizes them, one term each, or `None` when a word is more
/// than one token (FTS5 reads it as a phrase, which the postings, without positions, cannot
/// match: FTS5 ranks that query itself).
pub(super) fn query_terms(connection: &Connection, words: &[String]) -> rusqlite::Result<Option<Vec<String>>> {
    let tokens = tokens(connection, words.iter().map(String::as_str))?;
    let one_each = tokens.iter().all(|word| word.len() == 1);
    Ok(one_each.then(|| tokens.into_iter().flatten().collect()))
}

/// The user's words as an FTS5 query: each word quoted (so no word is read as FTS syntax),
/// any of them may match; BM25 rewards chunks that match more and rarer ones.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = crate::keywords::query_words(text).iter().map(|w| format!("\"{w}\"")).collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

impl Matrix {
    /// The metadata object stored as `text`, parsed the first time it is met. Writes store
    /// what serde_json writes for a map (keys sorted), so equal objects have equal text; were
    /// they to differ, the object would only be held twice.
    fn metadata_copy(&mut self, distinct: &mut HashMap<String, u32>, text: &str) -> u32 {
        if let Some(&copy) = distinct.get(text) {
            return copy;
        }
        let copy = u32::try_from(self.metadata.len()).unwrap_or(u32::MAX);
        self.metadata.push(serde_json::from_str(text).unwrap_or_default());
        distinct.insert(text.to_owned(), copy);
        copy
    }

    fn push_row(&mut self, id: i64, chunk_id: String, metadata_copy: u32, vector: impl Iterator<Item = f32>) {
        self.position.insert(id, self.ids.len());
        self.ids.push(id);
        self.chunk_ids.push(chunk_id);
        self.metadata_of.push(metadata_copy);
        let before = self.vectors.len();
        self.vectors.extend(vector.take(self.dims));
        // A short vector cannot come from this index's writes; pad rather than shift rows.
        self.vectors.resize(before + self.dims, 0.0);
        self.codes.push(&self.vectors[before..]);
    }

    /// Whether following `changes` in place keeps the rows changed since the load within
    /// their share. An empty load is always loaded again: it has no lengths to bound by.
    pub(super) fn can_follow(&self, changes: &RowChanges) -> bool {
        let changed = self.changed_rows + changes.removed.len() + changes.added.len();
        self.loaded_rows > 0 && changed <= self.loaded_rows / FOLLOWED_SHARE
    }

    /// Takes in a committed write, so the next search need not load the file again: removed
    /// rows leave every ranking, added rows join at the end. Fails before changing anything.
    pub(super) fn follow(&mut self, connection: &Connection, changes: &RowChanges) -> rusqlite::Result<()> {
        let removed_tokens = tokens(connection, changes.removed.iter().map(|(_, text)| text.as_str()))?;
        let added_tokens = tokens(connection, changes.added.iter().map(|row| row.indexed_text.as_str()))?;
        for ((id, _), tokens) in changes.removed.iter().zip(&removed_tokens) {
            if let Some(row) = self.position.remove(id) {
                self.postings.remove_row(row, &tokens.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
        let mut distinct = HashMap::new();
        for (added, tokens) in changes.added.iter().zip(&added_tokens) {
            let copy = self.metadata_copy(&mut distinct, &added.metadata);
            self.push_row(added.id, added.chunk_id.clone(), copy, added.vector.iter().copied());
            self.postings.add_row(&tokens.iter().map(String::as_str).collect::<Vec<_>>());
        }
        self.changed_rows += changes.removed.len() + changes.added.len();
        Ok(())
    }

    /// Whether searching `terms` needs postings not held: those of a term FTS5 holds that
    /// no search has taken in yet. Asked on a reader, while no write can commit.
    pub(super) fn lacks_terms(&self, connection: &Connection, terms: &[String]) -> rusqlite::Result<bool> {
        for term in terms.iter().filter(|term| !self.postings.holds(term)) {
            let mut indexed =
                connection.prepare_cached("SELECT EXISTS (SELECT 1 FROM temp.chunks_fts_tokens WHERE term = ?1)")?;
            if indexed.query_row([term], |r| r.get::<_, bool>(0))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Takes in the postings of `terms` not held, from FTS5's index. A word FTS5 does not hold
    /// stays out (the postings of every word ever searched for would grow without end); one it
    /// holds is taken in even if none of its rows is the matrix's, or searches would ask again.
    pub(super) fn load_terms(&mut self, connection: &Connection, terms: &[String]) -> rusqlite::Result<()> {
        let mut occurrences = connection.prepare_cached("SELECT doc FROM temp.chunks_fts_tokens WHERE term = ?1")?;
        for term in terms {
            if self.postings.holds(term) {
                continue;
            }
            let (mut rows, mut indexed) = (Vec::new(), false);
            let mut found = occurrences.query([term])?;
            while let Some(row) = found.next()? {
                indexed = true;
                if let Some(&position) = self.position.get(&row.get::<_, i64>(0)?) {
                    rows.push(position);
                }
            }
            if indexed {
                self.postings.load_term(term, rows);
            }
        }
        Ok(())
    }

    fn row_filter<'a>(&'a self, query: &'a SearchQuery) -> RowFilter<'a> {
        let decided = if query.filter.is_some() { vec![Cell::new(None); self.metadata.len()] } else { Vec::new() };
        RowFilter { matrix: self, filter: query.filter.as_ref(), removed: self.postings.removed(), decided }
    }

    /// How many distinct metadata objects the rows share.
    #[cfg(test)]
    pub(super) fn metadata_copies(&self) -> usize {
        self.metadata.len()
    }

    /// Row `row`'s metadata (empty for a row out of range).
    pub(super) fn metadata(&self, row: usize) -> Map<String, Value> {
        let copy = self.metadata_of.get(row).and_then(|&m| self.metadata.get(m as usize));
        copy.cloned().unwrap_or_default()
    }

    fn by_chunk_id(&self, a: usize, b: usize) -> std::cmp::Ordering {
        self.chunk_ids[a].cmp(&self.chunk_ids[b])
    }

    pub(super) fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dims..(row + 1) * self.dims]
    }

    /// Rows by cosine similarity, best first (ties by chunk id), filtered, at most `limit`:
    /// the int8 scan's best candidates, re-scored exactly.
    pub(super) fn vector_ranking(&self, query: &SearchQuery, vector: &[f32], limit: usize) -> Vec<(usize, f64)> {
        let candidates = (limit * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let filter = self.row_filter(query);
        let mut scored: Vec<(usize, f32)> = self
            .codes
            .nearest(vector, candidates, |row| filter.passes(row))
            .into_iter()
            .map(|row| (row, self.vector(row).iter().zip(vector).map(|(a, b)| a * b).sum::<f32>()))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| self.by_chunk_id(a.0, b.0)));
        scored.truncate(limit);
        scored.into_iter().map(|(row, score)| (row, f64::from(score))).collect()
    }

    /// Rows by BM25 for `terms` ([`keyword_terms`], their postings loaded), best first (ties
    /// by chunk id), filtered, at most `limit`.
    pub(super) fn keyword_ranking(
        &self,
        connection: &Connection,
        query: &SearchQuery,
        terms: Option<&[String]>,
        limit: usize,
    ) -> rusqlite::Result<Vec<(usize, f64)>> {
        let Some(terms) = terms else {
            return self.fts5_keyword_ranking(connection, query, limit);
        };
        let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
        let filter = self.row_filter(query);
        Ok(self.postings.top(&terms, limit, |a, b| self.by_chunk_id(a, b), |row| filter.passes(row)))
    }

    /// FTS5's own ranking: every matching row scored and sorted. For queries the postings
    /// cannot answer, and the reference the postings are tested against.
    pub(super) fn fts5_keyword_ranking(
        &self,
        connection: &Connection,
        query: &SearchQuery,
        limit: usize,
    ) -> rusqlite::Result<Vec<(usize, f64)>> {
        let Some(fts) = fts_query(&query.text) else { return Ok(Vec::new()) };
        let mut statement = connection.prepare_cached(
            "SELECT s.id, s.score FROM (SELECT rowid AS id, bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH ?1) s
             JOIN chunks c ON c.id = s.id ORDER BY s.score, c.chunk_id",
        )?;
        let mut rows = statement.query([fts])?;
        let filter = self.row_filter(query);
        let mut ranked = Vec::new();
        while ranked.len() < limit {
            let Some(row) = rows.next()? else { break };
            let Some(&position) = self.position.get(&row.get::<_, i64>(0)?) else { continue };
            if filter.passes(position) {
                // SQLite's bm25() is lower-is-better; the response's scores are higher-is-better.
                ranked.push((position, -row.get::<_, f64>(1)?));
            }
        }
        Ok(ranked)
    }
}

pub(super) fn read_hit(
    connection: &Connection,
    matrix: &Matrix,
    row: usize,
    score: f64,
    ranks: Ranks,
) -> rusqlite::Result<Hit> {
    let mut statement = connection.prepare_cached(
        "SELECT c.chunk_id, c.document_id, c.version, c.ordinal, c.text, c.citation, p.parent_id, p.text
         FROM chunks c LEFT JOIN parents p ON p.parent_id = c.parent_id WHERE c.id = ?1",
    )?;
    statement.query_row([matrix.ids[row]], |r| {
        let citation: String = r.get(5)?;
        let parent = match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?) {
            (Some(chunk_id), Some(text)) => Some(ParentChunk { chunk_id, text }),
            _ => None,
        };
        Ok(Hit {
            document_id: r.get(1)?,
            version: r.get(2)?,
            chunk: IndexedChunk {
                chunk_id: r.get(0)?,
                ordinal: r.get(3)?,
                text: r.get(4)?,
                citation: serde_json::from_str(&citation).unwrap_or_else(|_| empty_citation()),
                metadata: matrix.metadata(row),
                embedding: matrix.vector(row).to_vec(),
                parent,
            },
            score,
            ranks,
        })
    })
}

pub(super) fn empty_citation() -> seams_contracts::retrieve::Citation {
    seams_contracts::retrieve::Citation { source_uri: None, title: None, heading_path: Vec::new(), page: None }
}

/// The rows a search returns, with their scores and ranks, best first.
pub fn rank(
    query: &SearchQuery,
    vector: impl FnOnce(usize) -> Vec<(usize, f64)>,
    keyword: impl FnOnce(usize) -> Result<Vec<(usize, f64)>, IndexError>,
) -> Result<Vec<(usize, f64, Ranks)>, IndexError> {
    let with_rank = |list: Vec<(usize, f64)>, keyword: bool| -> Vec<(usize, f64, Ranks)> {
        list.into_iter()
            .enumerate()
            .map(|(i, (row, score))| {
                let r = Some(u32::try_from(i + 1).unwrap_or(u32::MAX));
                (
                    row,
                    score,
                    if keyword { Ranks { vector: None, keyword: r } } else { Ranks { vector: r, keyword: None } },
                )
            })
            .collect()
    };
    Ok(match query.mode {
        SearchMode::Vector => with_rank(vector(query.top_k), false),
        SearchMode::Keyword => with_rank(keyword(query.top_k)?, true),
        SearchMode::Hybrid => {
            let limit = query.fusion.candidates.max(query.top_k);
            let vector: Vec<usize> = vector(limit).into_iter().map(|(row, _)| row).collect();
            let keyword: Vec<usize> = keyword(limit)?.into_iter().map(|(row, _)| row).collect();
            let mut fused = query.fusion.fuse(&vector, &keyword);
            fused.truncate(query.top_k);
            fused.into_iter().map(|(row, ranks, score)| (row, score, ranks)).collect()
        }
    })
}
