//! The vector index in parts: a big bulk load builds IVFFlat as several partial indexes, each
//! over the chunks whose id hashes to it, and a keyword (GIN) index for each part beside the
//! whole one, so that hybrid's lists at once can rank each part's chunks on a connection of
//! its own (decision 46). A part's index and a search of that part name the same condition,
//! which is how PostgreSQL knows the partial index answers it.

/// How many parts an IVFFlat bulk load builds: one per core of the database the bench runs
/// on (2). Searches count the parts a schema holds, so a schema built with another count is
/// searched as it was built.
pub(super) const IVFFLAT_PARTS: u64 = 2;

/// The name of part `part`'s index. Part 0 keeps the name of the one vector index, which
/// migrations and `seams upgrade-index` look for.
pub(super) fn part_index_name(part: u64) -> String {
    match part {
        0 => "chunks_embedding_half_idx".to_owned(),
        part => format!("chunks_embedding_half_idx_{part}"),
    }
}

/// The name of part `part`'s keyword index.
pub(super) fn part_keyword_index_name(part: u64) -> String {
    format!("chunks_tsv_idx_{part}")
}

/// A POSIX pattern matching the names of every part's vector index but the first.
pub(super) const LATER_PARTS_PATTERN: &str = "^chunks_embedding_half_idx_[0-9]+$";

/// Drops the indexes only a schema in parts has: every part's vector index but the first (whose
/// name is the one vector index's), and every part's keyword index.
pub(super) const DROP_PART_ONLY_INDEXES: &str = "
DO $$ DECLARE part record; BEGIN
    FOR part IN SELECT relname FROM pg_class
                WHERE relnamespace = '{schema}'::regnamespace AND relkind = 'i'
                  AND relname ~ '^chunks_(embedding_half_idx|tsv_idx)_[0-9]+$' LOOP
        EXECUTE format('DROP INDEX {schema}.%I', part.relname);
    END LOOP;
END $$;
";

/// The condition on `chunk_id` (a column of the searched table, qualified or not) a chunk
/// of part `part` of `parts` meets. Every chunk meets exactly one part's.
pub(super) fn part_condition(chunk_id: &str, part: u64, parts: u64) -> String {
    format!("(hashtext({chunk_id}) & 2147483647) % {parts} = {part}")
}

/// Which of a schema's vector index parts a vector list searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartsSearched {
    /// All of them: one candidate list from each, ranked together.
    Every,
    /// Part `part` of the `of` parts a search expected. A schema built since with another
    /// count is searched whole by part 0's statement, and not at all by the others, so
    /// together they still search every chunk once.
    One { part: u64, of: u64 },
}

impl PartsSearched {
    /// The parts of a schema holding `parts` this searches.
    pub(super) fn parts(self, parts: u64) -> std::ops::Range<u64> {
        match self {
            PartsSearched::One { part, of } if of == parts => part..part + 1,
            PartsSearched::One { part: 0, .. } | PartsSearched::Every => 0..parts,
            PartsSearched::One { .. } => 0..0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_a_search_expected_search_every_part_once_whatever_the_schema_holds() {
        for held in 1..=4 {
            assert_eq!(PartsSearched::Every.parts(held), 0..held);
            for expected in 1..=4 {
                let mut searched: Vec<u64> =
                    (0..expected).flat_map(|part| PartsSearched::One { part, of: expected }.parts(held)).collect();
                searched.sort_unstable();
                assert_eq!(searched, (0..held).collect::<Vec<_>>(), "{expected} expected, {held} held");
            }
        }
    }
}
