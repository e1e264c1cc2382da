//! Keyword top-k by BM25 as one SQL statement over the GIN index, in MaxScore's two steps.

/// BM25's parameters: Lucene's defaults, as FTS5 and bm25s use them.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// The user's words as a tsquery: any of them may match. Words are letters and digits only,
/// so nothing the user types is read as tsquery syntax.
pub fn tsquery(text: &str) -> Option<String> {
    let words = crate::keywords::query_words(text);
    (!words.is_empty()).then(|| words.join(" | "))
}

/// The `n` best chunks by BM25 (score, then chunk id) among those that pass `filter` and match
/// any of the query's lexemes. `tsquery` and `words` are bind parameters: [`tsquery`]'s output
/// and the same words joined by spaces.
///
/// Common words would make every chunk a candidate, so this is MaxScore in two steps:
/// 1. The rarest words, those whose postings together stay under `rare_postings`, give
///    candidates through the GIN index; their `n`-th score is a floor, θ, on the answer's.
/// 2. Each word's most it can add to a chunk (its bound: BM25 at its largest count in one
///    chunk and its shortest chunk) is summed over the words outside the rare ones, smallest
///    first, then over the rare ones. The words whose running sum stays under θ cannot lift
///    a chunk that has none of the others into the top `n`; the others are essential.
///
/// If every essential word is a rare one, step 1's list is the answer. Otherwise the chunks
/// to score are those holding an essential word and a set of words whose bounds reach θ: a
/// chunk's score is at most the sum of its words' bounds. The sets are spelled out as a
/// tsquery, so the GIN index leaves out the rest before any row is read. Words in more than
/// half the chunks, and any past the eight of largest bounds, are not spelled: they are
/// counted as held by every chunk (their long postings would cost the index more than they
/// narrow, and eight words make at most 255 sets). Either way the ranking is BM25's over all
/// matches.
pub(super) fn bm25_top_sql(tsquery: &str, words: &str, filter: &str, n: i64, rare_postings: i64) -> String {
    // Term frequencies come from the chunk's `tsvector`: `setweight` marks the query's lexemes
    // and `ts_filter` keeps only them, so a long chunk is not unnested whole. The one-row `q`
    // and `stats` are read as values, not joined: joined, the planner materialised every
    // candidate's terms once more (8–19% of the keyword half at 100k, bench/RESULTS.md).
    // Each word's part is rounded to a multiple of 2^-36 before the sum. A part is under 2^6
    // (an idf under 29 in any corpus under 10^12 chunks, times 2.2), so it has at most 42
    // significant bits, and sums of up to 2,048 of them are exact in a double: any order of
    // the words gives the same sum, so two chunks of equal scores tie exactly, and the tie
    // goes by chunk id. Unrounded, the order the plan's join gave the words could change the
    // last bit and rank a tie either way (bench/RESULTS.md). A fixed order (`ORDER BY` in the
    // aggregate) cost a sort of every candidate's words; integer sums, a numeric aggregate.
    let scored = |candidates: &str| {
        format!(
            "SELECT c.chunk_id, sum(round(idf.idf * u.tf * ({BM25_K1} + 1)
                    / (u.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * c.length / (SELECT avgdl FROM stats)))
                    * {EXACT_UNITS}) / {EXACT_UNITS}) AS score
             FROM {{schema}}.chunks c,
                  LATERAL (SELECT m.lexeme, coalesce(array_length(m.positions, 1), 1) AS tf
                           FROM unnest(ts_filter(setweight(c.tsv, 'A', (SELECT lexemes FROM q)), '{{a}}')) m) u
                  JOIN idf ON idf.lexeme = u.lexeme
             WHERE c.tsv @@ {candidates} AND {filter}
             GROUP BY c.chunk_id ORDER BY score DESC, c.chunk_id COLLATE \"C\" LIMIT {n}"
        )
    };
    let quoted = |lexeme: &str| format!("'''' || replace({lexeme}, '''', '''''') || ''''");
    let as_tsquery =
        |condition: &str| format!("string_agg({}, ' | ') FILTER (WHERE {condition})::tsquery", quoted("lexeme"));
    let (quoted_word, quoted_set_word) = (quoted("lexeme"), quoted("w.lexeme"));
    let (rare, pair, essential) =
        (scored("(SELECT tsq FROM pick)"), scored("(SELECT tsq FROM pair)"), scored("(SELECT tsq FROM plan)"));
    let (rare_tsquery, essential_tsquery) = (as_tsquery("rare"), as_tsquery("essential"));
    // A word without a recorded bound is bounded by the most any count can give. The bounds
    // are read through `to_jsonb`, so a query function deployed before the indexer has run
    // migration 4 still answers (with that loose bound) instead of failing on the column.
    // The 1e-9 keeps a rounding error in a sum from deciding a tie. `sets` grows each set by
    // a word of smaller bound until its bounds, with the unspelled words', reach θ. If the
    // unspelled words' bounds reach θ alone, a chunk holding none of the spelled words may
    // win (one holding a common word many times): then no set narrows the essential words.
    // When even the rarest word is over the budget (a query of common words only), θ comes
    // from the chunks holding the two rarest words together, if at least `n` do: any `n`
    // chunks' scores bound the `n`-th best from below, and these are fewer to score. They are
    // not every chunk holding the rarest word, so the rare words alone never suffice then.
    // At 100k chunks this halved keyword p99 (bench/RESULTS.md).
    format!(
        "WITH RECURSIVE q AS (SELECT to_tsquery('english', {tsquery}) AS tsq,
                           tsvector_to_array(to_tsvector('english', {words})) AS lexemes),
              stats AS (SELECT greatest(chunks, 1)::float8 AS n, greatest(length::float8 / greatest(chunks, 1), 1) AS avgdl
                        FROM {{schema}}.corpus),
              idf AS (SELECT t.lexeme, t.df, ln(1 + (s.n - t.df + 0.5) / (t.df + 0.5)) AS idf,
                             coalesce(b.max_tf * ({BM25_K1} + 1)
                                      / (b.max_tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * b.min_length / s.avgdl)),
                                      {BM25_K1} + 1) AS most
                      FROM {{schema}}.terms t
                           CROSS JOIN LATERAL (SELECT (to_jsonb(t) ->> 'max_tf')::float8 AS max_tf,
                                                      (to_jsonb(t) ->> 'min_length')::float8 AS min_length) b,
                           q, stats s
                      WHERE t.lexeme = ANY (q.lexemes) AND t.df > 0),
              split AS (SELECT lexeme, df, idf * most AS bound,
                               sum(df) OVER w <= {rare_postings} OR row_number() OVER w = 1 AS rare
                        FROM idf WINDOW w AS (ORDER BY df, lexeme)),
              pick AS (SELECT {rare_tsquery} AS tsq FROM split),
              pair AS (SELECT CASE WHEN min(df) > {rare_postings} AND count(*) >= 2
                                   THEN (SELECT string_agg({quoted_word}, ' & ') FROM (SELECT lexeme FROM split ORDER BY df, lexeme LIMIT 2) w)::tsquery
                              END AS tsq
                       FROM split),
              from_pair AS ({pair}),
              paired AS (SELECT count(*) >= {n} AS used FROM from_pair),
              from_rare AS (SELECT chunk_id, score FROM from_pair WHERE (SELECT used FROM paired)
                            UNION ALL
                            SELECT chunk_id, score FROM ({rare}) r WHERE NOT (SELECT used FROM paired)),
              threshold AS (SELECT CASE WHEN count(*) >= {n} THEN min(score) END AS theta FROM from_rare),
              reach AS (SELECT s.lexeme, s.rare,
                               f.theta IS NULL
                               OR sum(s.bound) OVER (ORDER BY s.rare, s.bound, s.lexeme) * (1 + 1e-9) >= f.theta AS essential
                        FROM split s, threshold f),
              spelled AS (SELECT lexeme, bound, row_number() OVER (ORDER BY bound DESC, lexeme) AS at
                          FROM split WHERE df * 2 <= (SELECT n FROM stats)
                          ORDER BY bound DESC, lexeme LIMIT {THRESHOLD_WORDS}),
              assumed AS (SELECT (SELECT sum(bound) FROM split) - coalesce((SELECT sum(bound) FROM spelled), 0) AS bound),
              sets AS (SELECT at, bound AS total, {quoted_word} AS words FROM spelled
                       UNION ALL
                       SELECT w.at, s.total + w.bound, s.words || ' & ' || {quoted_set_word}
                       FROM sets s JOIN spelled w ON w.at > s.at, assumed a, threshold f
                       WHERE (s.total + a.bound) * (1 + 1e-9) < f.theta),
              enough AS (SELECT string_agg('(' || s.words || ')', ' | ')::tsquery AS tsq
                         FROM sets s, assumed a, threshold f
                         WHERE (s.total + a.bound) * (1 + 1e-9) >= f.theta),
              plan AS (SELECT coalesce(bool_and(rare) FILTER (WHERE essential), true) AND NOT (SELECT used FROM paired) AS rare_suffice,
                              {essential_tsquery} && CASE WHEN (SELECT bound FROM assumed) * (1 + 1e-9) >= (SELECT theta FROM threshold)
                                                          THEN {essential_tsquery}
                                                          ELSE coalesce((SELECT tsq FROM enough), {essential_tsquery}) END AS tsq
                       FROM reach)
         SELECT chunk_id, score FROM from_rare WHERE (SELECT rare_suffice FROM plan)
         UNION ALL
         SELECT chunk_id, score FROM ({essential}) essential WHERE NOT (SELECT rare_suffice FROM plan)"
    )
}

/// The most words [`bm25_top_sql`] spells out as sets whose bounds reach θ (at most 255 sets).
/// At 100k chunks these sets cut the chunks a long-tailed query scores by 3–15×.
const THRESHOLD_WORDS: i64 = 8;

/// 2^36: BM25's parts are summed in these units ([`bm25_top_sql`]).
const EXACT_UNITS: &str = "68719476736::float8";

/// The default budget of [`super::PostgresIndex`]'s keyword candidates: postings (chunks holding a
/// word, counted per word) of the query's rarest words, by whether a filter narrows them.
///
/// Without a filter each of those chunks is a candidate, and 2,000 postings give a θ that
/// leaves little to score after; 5,000 scored more for the same θ (at 100k chunks, keyword
/// p50 12.5–13.6 against 18.5–23.9 ms, hybrid 38.6–42.5 against 42.7–47.9). A filter passes
/// only a share of them, so fewer reach the `n` a θ needs: with a filter of 10%, both 2,000
/// and 10,000 made searches slower than 5,000 (bench/RESULTS.md, issue 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RarePostings {
    pub(super) unfiltered: i64,
    pub(super) filtered: i64,
}

impl Default for RarePostings {
    fn default() -> Self {
        Self { unfiltered: 2_000, filtered: 5_000 }
    }
}

impl RarePostings {
    /// The budget for a search with a filter (`filtered`) or without.
    pub(super) fn of_search(self, filtered: bool) -> i64 {
        if filtered {
            self.filtered
        } else {
            self.unfiltered
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filtered_search_takes_the_larger_budget() {
        let budget = RarePostings::default();
        assert_eq!((budget.of_search(false), budget.of_search(true)), (2_000, 5_000));
    }

    #[test]
    fn user_words_never_become_tsquery_syntax() {
        assert_eq!(tsquery("refund & policy:* !x").as_deref(), Some("refund | policy | x"));
        assert_eq!(tsquery("&|!"), None);
    }
}
