//! Keyword top-k without a scan: an in-memory inverted index over the embedded index's rows,
//! scored with BM25 exactly as SQLite FTS5's `bm25()` scores (k1 1.2, b 0.75, its IDF), and
//! searched with MaxScore (Turtle and Flood, 1995): once the top k are known, a row that only
//! holds the query's common words cannot enter them, so those words' postings are skipped
//! rather than read, and a query's cost follows its rare words. Pure: the caller supplies
//! the tokens (FTS5's own, so both agree on what a word is).
//!
//! It starts from the rows' lengths alone and takes in a term's postings when a query first
//! needs them, so loading reads no more of the full-text index than the queries do.
//!
//! Rows can be added and removed afterwards, so a write does not cost a reload: a removed row
//! stays in its terms' postings but leaves the statistics and every answer, and IDFs and
//! bounds are computed per query from the live statistics.

use std::cmp::Ordering;
use std::collections::HashMap;

/// FTS5's `bm25()` defaults, which the embedded index has always ranked with.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// A term's postings: the rows holding it, ascending, and how often each holds it.
#[derive(Debug, Default)]
struct TermPostings {
    rows: Vec<u32>,
    frequencies: Vec<u32>,
    /// How many rows not removed hold the term: its IDF's document count.
    holding: usize,
    /// The best BM25 term-frequency part of any of its rows, at the reference length: with
    /// the IDF, MaxScore's bound.
    best_frequency_part: f64,
}

/// The inverted index: every row's length in tokens, and the postings of the terms taken in.
#[derive(Debug, Default)]
pub struct Postings {
    terms: HashMap<String, TermPostings>,
    lengths: Vec<u32>,
    /// Rows removed since the start (empty while none is).
    removed: Vec<bool>,
    live_rows: usize,
    live_length: u64,
    average_length: f64,
    /// The average length at the start, which `best_frequency_part` is computed at.
    reference_length: f64,
}

/// Rows out of order are put in order, repeats merged.
fn sort_and_merge(term: &mut TermPostings) {
    if term.rows.windows(2).all(|w| w[0] < w[1]) {
        return;
    }
    let mut pairs: Vec<(u32, u32)> = term.rows.iter().copied().zip(term.frequencies.iter().copied()).collect();
    pairs.sort_unstable_by_key(|&(row, _)| row);
    term.rows.clear();
    term.frequencies.clear();
    for (row, frequency) in pairs {
        if term.rows.last() == Some(&row) {
            if let Some(last) = term.frequencies.last_mut() {
                *last += frequency;
            }
        } else {
            term.rows.push(row);
            term.frequencies.push(frequency);
        }
    }
}

/// FTS5's IDF: `ln((N - n + 0.5) / (n + 0.5))`, floored at 1e-6 so a word in most rows
/// still counts a little.
fn idf(rows: usize, holding: usize) -> f64 {
    let idf = ((rows as f64 - holding as f64 + 0.5) / (holding as f64 + 0.5)).ln();
    if idf <= 0.0 {
        1e-6
    } else {
        idf
    }
}

fn term_score(idf: f64, frequency: u32, length: u32, average_length: f64) -> f64 {
    idf * frequency_part(frequency, length, average_length)
}

/// BM25's term-frequency part. Below `K1 + 1` always; and at an average length `s` times
/// another, at most `max(s, 1)` times what it was there (the denominator shrinks by at most
/// `s`), which keeps a bound computed at the start an upper bound after writes.
fn frequency_part(frequency: u32, length: u32, average_length: f64) -> f64 {
    let frequency = f64::from(frequency);
    (frequency * (K1 + 1.0)) / (frequency + K1 * (1.0 - B + B * f64::from(length) / average_length))
}

/// A query term's place in its postings, with its IDF and bound at the live statistics.
struct Cursor<'a> {
    term: &'a TermPostings,
    idf: f64,
    bound: f64,
    at: usize,
}

impl Cursor<'_> {
    fn row(&self) -> Option<u32> {
        self.term.rows.get(self.at).copied()
    }

    /// Moves to the first row at or after `row`: a binary search, so skipped postings are
    /// never read.
    fn seek(&mut self, row: u32) {
        self.at += self.term.rows[self.at..].partition_point(|&r| r < row);
    }
}

/// Scores may differ in the last bits with the order they are summed in; a bound this close
/// to the threshold is not trusted to prune.
const SLACK: f64 = 1e-9;

/// The best `limit` rows so far, and the worst of them once there are `limit`.
struct Best<F> {
    limit: usize,
    rows: Vec<(usize, f64)>,
    worst: Option<usize>,
    /// Orders rows of equal score: `Less` ranks first.
    tie: F,
}

impl<F: Fn(usize, usize) -> Ordering> Best<F> {
    /// Whether a row scoring at most `bound` could still enter.
    fn reachable(&self, bound: f64) -> bool {
        self.worst.is_none_or(|w| bound + SLACK >= self.rows[w].1)
    }

    fn enters(&self, row: usize, score: f64) -> bool {
        let Some(w) = self.worst else { return true };
        let (worst_row, worst_score) = self.rows[w];
        score > worst_score || (score == worst_score && (self.tie)(row, worst_row) == Ordering::Less)
    }

    fn push(&mut self, row: usize, score: f64) {
        match self.worst {
            Some(w) => self.rows[w] = (row, score),
            None => self.rows.push((row, score)),
        }
        if self.rows.len() == self.limit {
            self.worst = (0..self.rows.len()).max_by(|&a, &b| self.order(self.rows[a], self.rows[b]));
        }
    }

    fn order(&self, a: (usize, f64), b: (usize, f64)) -> Ordering {
        b.1.total_cmp(&a.1).then_with(|| (self.tie)(a.0, b.0))
    }

    fn into_sorted(mut self) -> Vec<(usize, f64)> {
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_by(|&a, &b| self.order(a, b));
        rows
    }
}

impl Postings {
    /// Rows `0..lengths.len()`, row `i` `lengths[i]` tokens long, with no term's postings yet.
    pub fn new(lengths: Vec<u32>) -> Self {
        let mut postings = Postings {
            live_rows: lengths.len(),
            live_length: lengths.iter().map(|&l| u64::from(l)).sum(),
            lengths,
            ..Postings::default()
        };
        postings.average_length = postings.live_average_length();
        postings.reference_length = postings.average_length;
        postings
    }

    /// Whether `term`'s postings are held: taken in, and followed through every write since.
    pub fn holds(&self, term: &str) -> bool {
        self.terms.contains_key(term)
    }

    /// Takes in `term`'s postings, replacing any held: `occurrences` holds, for each time a
    /// row holds the term, that row, in any order. Only live rows may be given (a removed row
    /// would count); rows past those held are ignored.
    pub fn load_term(&mut self, term: &str, occurrences: impl IntoIterator<Item = usize>) {
        let mut postings = TermPostings::default();
        for row in occurrences {
            let Ok(row) = u32::try_from(row) else { continue };
            if (row as usize) >= self.lengths.len() {
                continue;
            }
            // FTS5 lists a row's occurrences one after another: count them in place.
            match (postings.rows.last(), postings.frequencies.last_mut()) {
                (Some(&last), Some(frequency)) if last == row => *frequency += 1,
                _ => {
                    postings.rows.push(row);
                    postings.frequencies.push(1);
                }
            }
        }
        sort_and_merge(&mut postings);
        postings.holding = postings.rows.len();
        let (lengths, reference) = (&self.lengths, self.reference_length);
        postings.best_frequency_part = (0..postings.rows.len())
            .map(|i| frequency_part(postings.frequencies[i], lengths[postings.rows[i] as usize], reference))
            .fold(0.0, f64::max);
        self.terms.insert(term.to_owned(), postings);
    }

    /// Rows ever held, removed ones included: the next added row's number.
    pub fn rows(&self) -> usize {
        self.lengths.len()
    }

    fn is_removed(&self, row: usize) -> bool {
        self.removed.get(row).copied().unwrap_or(false)
    }

    /// Per row, whether it was removed; empty while none has been.
    pub fn removed(&self) -> &[bool] {
        &self.removed
    }

    fn live_average_length(&self) -> f64 {
        if self.live_rows == 0 {
            0.0
        } else {
            self.live_length as f64 / self.live_rows as f64
        }
    }

    fn idf(&self, term: &TermPostings) -> f64 {
        idf(self.live_rows, term.holding)
    }

    /// The most `term` alone adds to a row's score now: its best frequency part, scaled for
    /// the average length's change since the start ([`frequency_part`]), capped at `K1 + 1`.
    fn bound(&self, term: &TermPostings) -> f64 {
        let scale = if self.reference_length > 0.0 {
            (self.average_length / self.reference_length).max(1.0)
        } else {
            f64::INFINITY
        };
        self.idf(term) * (term.best_frequency_part * scale).min(K1 + 1.0)
    }

    /// Adds a row holding `tokens` (one entry per occurrence) after every row held; returns
    /// its number. It joins the postings of the terms held; a term not held takes it in when
    /// its postings are loaded.
    pub fn add_row(&mut self, tokens: &[&str]) -> usize {
        let row = self.lengths.len();
        let length = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        self.lengths.push(length);
        if !self.removed.is_empty() {
            self.removed.push(false);
        }
        self.live_rows += 1;
        self.live_length += u64::from(length);
        self.average_length = self.live_average_length();
        // Rows past u32's range count, but hold no postings (as when loaded).
        let Ok(row_number) = u32::try_from(row) else { return row };
        let mut counts: Vec<(&str, u32)> = Vec::new();
        let mut sorted = tokens.to_vec();
        sorted.sort_unstable();
        for token in sorted {
            match counts.last_mut() {
                Some((term, count)) if *term == token => *count += 1,
                _ => counts.push((token, 1)),
            }
        }
        for (term, frequency) in counts {
            let Some(postings) = self.terms.get_mut(term) else { continue };
            postings.rows.push(row_number);
            postings.frequencies.push(frequency);
            postings.holding += 1;
            postings.best_frequency_part =
                postings.best_frequency_part.max(frequency_part(frequency, length, self.reference_length));
        }
        row
    }

    /// Removes `row`, which held `tokens` (its terms, in any order and repeats allowed): it
    /// no longer counts in any statistic or answer. A term not in its postings is skipped.
    pub fn remove_row(&mut self, row: usize, tokens: &[&str]) {
        let (Some(&length), Ok(wanted)) = (self.lengths.get(row), u32::try_from(row)) else { return };
        if self.is_removed(row) {
            return;
        }
        let mut distinct = tokens.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for term in distinct {
            if let Some(postings) = self.terms.get_mut(term) {
                if postings.rows.binary_search(&wanted).is_ok() {
                    postings.holding = postings.holding.saturating_sub(1);
                }
            }
        }
        self.removed.resize(self.lengths.len(), false);
        self.removed[row] = true;
        self.live_rows = self.live_rows.saturating_sub(1);
        self.live_length = self.live_length.saturating_sub(u64::from(length));
        self.average_length = self.live_average_length();
    }

    /// The BM25 score of `row` for `terms`, summed in the query's order (as FTS5 sums).
    pub fn score(&self, terms: &[&str], row: usize) -> f64 {
        let Ok(wanted) = u32::try_from(row) else { return 0.0 };
        terms
            .iter()
            .filter_map(|term| self.terms.get(*term))
            .filter_map(|term| {
                let i = term.rows.binary_search(&wanted).ok()?;
                Some(term_score(self.idf(term), term.frequencies[i], self.lengths[row], self.average_length))
            })
            .sum()
    }

    /// The `limit` best rows holding any of `terms` that `accept` lets through (never a
    /// removed one), best first; equal scores in `tie` order. A term given twice counts
    /// twice, as in FTS5. `accept` is asked only about rows that may enter.
    pub fn top(
        &self,
        terms: &[&str],
        limit: usize,
        tie: impl Fn(usize, usize) -> Ordering,
        accept: impl FnMut(usize) -> bool,
    ) -> Vec<(usize, f64)> {
        self.top_counting(terms, limit, tie, accept).0
    }

    /// [`Postings::top`], and how many rows it scored (the work MaxScore saves).
    fn top_counting(
        &self,
        terms: &[&str],
        limit: usize,
        tie: impl Fn(usize, usize) -> Ordering,
        mut accept: impl FnMut(usize) -> bool,
    ) -> (Vec<(usize, f64)>, usize) {
        if limit == 0 {
            return (Vec::new(), 0);
        }
        let mut cursors: Vec<Cursor<'_>> = terms
            .iter()
            .filter_map(|term| self.terms.get(*term))
            .map(|term| Cursor { term, idf: self.idf(term), bound: self.bound(term), at: 0 })
            .collect();
        cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
        // bound_through[i]: the most the terms 0..=i together can add to a row's score.
        let bound_through: Vec<f64> = cursors
            .iter()
            .scan(0.0, |sum, cursor| {
                *sum += cursor.bound;
                Some(*sum)
            })
            .collect();
        let mut best = Best { limit, rows: Vec::with_capacity(limit), worst: None, tie: &tie };
        // Terms before `essential` cannot lift a row into the top k by themselves: rows are
        // only ever found through the essential ones, and looked up in the rest.
        let mut essential = 0;
        let mut scored = 0;
        while let Some(row) = cursors[essential..].iter().filter_map(Cursor::row).min() {
            scored += 1;
            let mut score = 0.0;
            for cursor in &mut cursors[essential..] {
                if cursor.row() == Some(row) {
                    score += self.term_score_at(cursor, row);
                    cursor.at += 1;
                }
            }
            for i in (0..essential).rev() {
                if !best.reachable(score + bound_through[i]) {
                    break;
                }
                let cursor = &mut cursors[i];
                cursor.seek(row);
                if cursor.row() == Some(row) {
                    score += self.term_score_at(cursor, row);
                }
            }
            let row = row as usize;
            if !best.reachable(score) || self.is_removed(row) || !accept(row) {
                continue;
            }
            // Summed again in the query's order, as FTS5 sums: summed in the cursors' order,
            // two equal scores can differ in their last bits, and a tie at the cut go to the
            // wrong row.
            let score = self.score(terms, row);
            if best.enters(row, score) {
                best.push(row, score);
                while essential < cursors.len() && !best.reachable(bound_through[essential]) {
                    essential += 1;
                }
            }
        }
        (best.into_sorted(), scored)
    }

    fn term_score_at(&self, cursor: &Cursor<'_>, row: u32) -> f64 {
        term_score(cursor.idf, cursor.term.frequencies[cursor.at], self.lengths[row as usize], self.average_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Postings of `rows` (texts of words) with every term taken in.
    fn postings(rows: &[&str]) -> Postings {
        let mut index = Postings::new(rows.iter().map(|text| text.split_whitespace().count() as u32).collect());
        let mut terms: Vec<&str> = rows.iter().flat_map(|text| text.split_whitespace()).collect();
        terms.sort_unstable();
        terms.dedup();
        let live: Vec<(usize, &str)> = rows.iter().copied().enumerate().collect();
        for term in terms {
            load(&mut index, &live, term);
        }
        index
    }

    /// Takes in `term` from `live`, each row's number in `index` and its text: what the
    /// embedded index reads from FTS5 when a query first needs a term.
    fn load(index: &mut Postings, live: &[(usize, &str)], term: &str) {
        let occurrences =
            live.iter().flat_map(|&(row, text)| text.split_whitespace().filter(|&word| word == term).map(move |_| row));
        index.load_term(term, occurrences.collect::<Vec<_>>());
    }

    /// Every row scored, sorted (ties by row, or with `reversed` against it): what `top`
    /// must equal.
    fn exhaustive(
        index: &Postings,
        terms: &[&str],
        limit: usize,
        reversed: bool,
        accept: impl Fn(usize) -> bool,
    ) -> Vec<(usize, f64)> {
        let mut all: Vec<(usize, f64)> = (0..index.rows())
            .filter(|&row| {
                accept(row) && terms.iter().any(|t| index.terms.get(*t).is_some_and(|p| p.rows.contains(&(row as u32))))
            })
            .map(|row| (row, index.score(terms, row)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(if reversed { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) }));
        all.truncate(limit);
        all
    }

    #[test]
    fn scores_are_fts5_bm25() {
        // Five rows, lengths 4, 2, 1, 1, 1 (average 1.8); "refund" in two of them.
        let index = postings(&["refund refund policy card", "refund desk", "shipping", "carrier", "lift"]);
        let idf = ((5.0 - 2.0 + 0.5) / (2.0 + 0.5f64)).ln();
        let by_hand = idf * (2.0 * 2.2) / (2.0 + 1.2 * (0.25 + 0.75 * 4.0 / 1.8));
        assert!((index.score(&["refund"], 0) - by_hand).abs() < 1e-15);
        // A word in most rows has a negative raw IDF: FTS5 floors it at 1e-6.
        let common = postings(&["a", "a", "a", "b"]);
        assert!((common.score(&["a"], 0) - 1e-6 * 2.2 / (1.0 + 1.2)).abs() < 1e-18);
    }

    #[test]
    fn top_k_equals_scoring_every_row() {
        // A Zipf-like corpus: common words everywhere, rare ones in a few rows.
        let mut state = 7u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let rows: Vec<String> = (0..2000)
            .map(|_| {
                (0..12)
                    .map(|_| format!("w{}", (300f64.powf((next() % 10_000) as f64 / 10_000.0)) as u32))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let index = postings(&rows);
        for query in [
            vec!["w1", "w2", "w150"],
            vec!["w299", "w1"],
            vec!["w3", "w3"],
            vec!["w40", "w7", "w2", "w90", "w1"],
            vec!["nothing"],
        ] {
            // Every row is 12 words long, so ties abound: in the rows' order and against it.
            for (limit, reversed) in [1, 10, 50].into_iter().flat_map(|limit| [(limit, false), (limit, true)]) {
                let tie = |a: usize, b: usize| if reversed { b.cmp(&a) } else { a.cmp(&b) };
                let found = index.top(&query, limit, tie, |_| true);
                let expected = exhaustive(&index, &query, limit, reversed, |_| true);
                assert_eq!(found, expected, "{query:?} top {limit}, reversed: {reversed}");
                let found = index.top(&query, limit, tie, |row| row % 10 == 3);
                let expected = exhaustive(&index, &query, limit, reversed, |row| row % 10 == 3);
                assert_eq!(found, expected, "{query:?} filtered, reversed: {reversed}");
            }
        }
    }

    /// Rows added and removed after the start rank as postings of the rows left would: the
    /// same rows in the same order with the same scores, for common and rare words, filtered
    /// or not, whether a term was taken in before the writes or after. The bounds stay bounds
    /// though the average length moved both ways.
    #[test]
    fn rows_added_and_removed_rank_as_fresh_postings() {
        let mut state = 3u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        fn text(next: &mut impl FnMut(u64) -> u64, words: u64) -> String {
            (0..1 + next(words))
                .map(|_| format!("w{}", (200f64.powf(next(10_000) as f64 / 10_000.0)) as u32))
                .collect::<Vec<_>>()
                .join(" ")
        }
        let queries = [vec!["w1", "w2", "w150"], vec!["w199", "w1"], vec!["w3", "w3"], vec!["w40", "w7", "w2", "w90"]];
        let mut rows: Vec<String> = (0..1500).map(|_| text(&mut next, 10)).collect();
        // Half the query terms are taken in before the writes and followed through them; the
        // others only after, from the rows then live.
        let mut index = Postings::new(rows.iter().map(|text| text.split_whitespace().count() as u32).collect());
        let live: Vec<(usize, &str)> = rows.iter().map(String::as_str).enumerate().collect();
        for term in ["w1", "w150", "w3", "w7", "w90"] {
            load(&mut index, &live, term);
        }
        // Which row of `index` each row of `rows` is; removed rows leave both.
        let mut held: Vec<usize> = (0..rows.len()).collect();
        for round in 0..300u64 {
            if round % 3 == 0 && rows.len() > 1 {
                let at = next(rows.len() as u64) as usize;
                let removed = rows.remove(at);
                index.remove_row(held.remove(at), &removed.split_whitespace().collect::<Vec<_>>());
            } else {
                // Longer rows than the first ones, then shorter: the average moves up, then down.
                let added = text(&mut next, if round < 150 { 40 } else { 3 });
                held.push(index.add_row(&added.split_whitespace().collect::<Vec<_>>()));
                rows.push(added);
            }
        }
        assert_eq!(index.rows() - rows.len(), 100, "the 100 removed rows are still held");
        assert!(!index.holds("w2") && index.holds("w1"), "writes take no term in");
        let live: Vec<(usize, &str)> = held.iter().copied().zip(rows.iter().map(String::as_str)).collect();
        for term in queries.iter().flatten() {
            if !index.holds(term) {
                load(&mut index, &live, term);
            }
        }
        let fresh = postings(&rows.iter().map(String::as_str).collect::<Vec<_>>());
        let in_fresh = |row: usize| held.iter().position(|&h| h == row).expect("a removed row was returned");
        for query in queries {
            for limit in [1, 10, 50] {
                let tie = |a: usize, b: usize| a.cmp(&b);
                let found: Vec<(usize, f64)> =
                    index.top(&query, limit, tie, |_| true).into_iter().map(|(row, s)| (in_fresh(row), s)).collect();
                assert_eq!(found, fresh.top(&query, limit, tie, |_| true), "{query:?} top {limit}");
                let found: Vec<(usize, f64)> = index
                    .top(&query, limit, tie, |row| in_fresh(row) % 10 == 3)
                    .into_iter()
                    .map(|(row, s)| (in_fresh(row), s))
                    .collect();
                assert_eq!(found, fresh.top(&query, limit, tie, |row| row % 10 == 3), "{query:?} filtered");
            }
        }
    }

    /// A row's term-frequency part grows when added rows lengthen the average: "t t" in a
    /// ten-token row is worth little among one-token rows and a lot among forty-token ones.
    /// Its term's bound from the start must grow with it, or MaxScore drops "t" once an "x" row
    /// fills the top 1, and never finds the row.
    #[test]
    fn a_bound_grows_when_added_rows_lengthen_the_average() {
        let mut rows: Vec<String> = vec!["x".to_owned(); 5];
        rows.push("t t b b b b b b b b".to_owned());
        rows.extend((0..200).map(|i| format!("a{i}")));
        let mut index = postings(&rows.iter().map(String::as_str).collect::<Vec<_>>());
        let long = ["c"; 40];
        for _ in 0..200 {
            index.add_row(&long);
            rows.push(long.join(" "));
        }
        let fresh = postings(&rows.iter().map(String::as_str).collect::<Vec<_>>());
        let tie = |a: usize, b: usize| a.cmp(&b);
        let expected = fresh.top(&["t", "x"], 1, tie, |_| true);
        assert_eq!(expected.first().map(|r| r.0), Some(5), "the row holding t twice ranks first");
        assert_eq!(index.top(&["t", "x"], 1, tie, |_| true), expected);
    }

    #[test]
    fn common_words_are_skipped_once_the_top_k_is_full() {
        // "common" is in all 1,000 rows, "rare" in rows 3 and 5. Once those two fill the top 2,
        // no row holding "common" alone can enter: its postings are not walked any further.
        let rows: Vec<&str> = (0..1000).map(|i| if i == 3 || i == 5 { "common rare" } else { "common" }).collect();
        let index = postings(&rows);
        let (top, scored) = index.top_counting(&["common", "rare"], 2, |a, b| a.cmp(&b), |_| true);
        assert_eq!(top.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 5]);
        assert_eq!(scored, 6, "rows 0 to 5, then nothing: the common word's other 994 rows are skipped");
        let (_, scored) = index.top_counting(&["common"], 2, |a, b| a.cmp(&b), |_| true);
        assert_eq!(scored, 1000, "a query of common words alone has to look at them");
    }

    /// Rows 3 and 5 score alike but for the last bits, which depend on the order the terms
    /// are summed in. The cut at five goes by the scores reported (summed in the query's
    /// order), not by the order the search happened to sum them in.
    #[test]
    fn a_near_tie_at_the_cut_goes_by_the_scores_reported() {
        let index = postings(&[
            "e a b a c",
            "d a a e a c",
            "e d d b",
            "b c a",
            "b e c c b c",
            "d b a",
            "b d d",
            "c e",
            "b e b b a",
            "a b e c e a",
            "d a a e c b",
            "c",
            "d d b c c c",
            "c e d b",
            "d",
        ]);
        let query = ["c", "b", "a", "d"];
        let found = index.top(&query, 5, |a, b| b.cmp(&a), |_| true);
        assert_eq!(found.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 0, 10, 9, 3]);
        assert_eq!(found, exhaustive(&index, &query, 5, true, |_| true));
        assert!(index.score(&query, 3) > index.score(&query, 5), "row 3's score is the higher one, reported");
    }

    #[test]
    fn ties_follow_the_given_order_and_occurrences_may_come_in_any_order() {
        let mut index = Postings::new(vec![1, 3, 2]);
        index.load_term("a", [1, 2, 1, 99]);
        assert_eq!(index.terms["a"].rows, [1, 2], "row 99 is past the rows held");
        assert_eq!(index.terms["a"].holding, 2);
        assert_eq!(index.terms["a"].frequencies, [2, 1]);
        let equal = postings(&["x", "x", "x y"]);
        let reversed = equal.top(&["x"], 2, |a, b| b.cmp(&a), |_| true);
        assert_eq!(reversed.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 0], "equal scores: the tie order decides");
        assert!(equal.top(&["x"], 0, |a, b| a.cmp(&b), |_| true).is_empty());
    }
}
