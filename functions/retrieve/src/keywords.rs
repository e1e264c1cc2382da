//! The words a keyword search indexes and looks for: letters and digits only (so nothing a
//! user types is read as query syntax), without English stop words. The list is Snowball's
//! English stop list, the one PostgreSQL's `english` configuration uses, so both backends
//! leave out the same words: words so common that matching them says nothing about
//! relevance (question words included, which questions are full of), and that would
//! otherwise count in every chunk's length. Pure.

/// Snowball's English stop words (PostgreSQL's `english.stop`), sorted for binary search.
/// Contractions appear split, as the tokenizer splits them ("don't" is "don" and "t").
pub const STOP_WORDS: [&str; 127] = [
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// Distinct words a keyword search looks for, at most: the first ones of the query. Lucene's
/// default bound on a query's clauses. A question has a few dozen; each word costs a lookup
/// in either backend, and a query of 100,000 distinct words took 4–8 s where this many take
/// milliseconds. Embedding models read only the start of a long query too.
pub const MAX_QUERY_WORDS: usize = 1_024;

/// The query's words in order, lower-cased, once each, stop words left out (the index does
/// not hold them: a query of stop words alone finds nothing, as in Lucene), the first
/// [`MAX_QUERY_WORDS`] of them.
pub fn query_words(text: &str) -> Vec<String> {
    // A set, not a search of the list: every word compared with every other took 50 s for a
    // query of 100,000 words.
    let mut seen = std::collections::HashSet::new();
    let mut found: Vec<String> = Vec::new();
    for word in words(text) {
        let word = word.to_lowercase();
        if !is_stop_word(&word) && seen.insert(word.clone()) {
            found.push(word);
            if found.len() == MAX_QUERY_WORDS {
                break;
            }
        }
    }
    found
}

/// The text the embedded index tokenizes for a chunk: its words without stop words, in
/// order, separated by spaces (FTS5 then lower-cases and stems them).
pub fn indexed_text(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    for word in words(text).filter(|w| !is_stop_word(&w.to_lowercase())) {
        if !kept.is_empty() {
            kept.push(' ');
        }
        kept.push_str(word);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_list_is_sorted_and_whole() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        for word in ["what", "how", "the", "don", "t", "yourselves"] {
            assert!(is_stop_word(word), "{word}");
        }
        assert!(!is_stop_word("refund") && !is_stop_word("wing"));
    }

    #[test]
    fn stop_words_and_syntax_are_dropped() {
        assert_eq!(query_words("What is the refund* policy OR \"the\" Policy?"), ["refund", "policy"]);
        assert!(query_words("The and").is_empty(), "only stop words: nothing to look for");
        assert!(query_words("?! -").is_empty());
    }

    #[test]
    fn a_long_query_keeps_its_first_distinct_words() {
        let text: String = (0..3 * MAX_QUERY_WORDS).map(|i| format!("w{} the W{} ", i, i / 2)).collect();
        let words = query_words(&text);
        assert_eq!(words.len(), MAX_QUERY_WORDS);
        assert_eq!(words[..4], ["w0", "w1", "w2", "w3"]);
        assert_eq!(words.last().map(String::as_str), Some("w1023"));
    }

    #[test]
    fn indexed_text_keeps_every_other_word_in_order() {
        assert_eq!(indexed_text("The Wing's lift, at Mach 2.5 (and its drag)."), "Wing lift Mach 2 5 drag");
        assert_eq!(indexed_text("Ünïcode café — naïve"), "Ünïcode café naïve");
        assert_eq!(indexed_text("to be or not"), "");
    }
}
