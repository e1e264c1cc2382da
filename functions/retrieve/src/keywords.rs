//! The words a keyword search indexes and looks for: letters and digits only (so nothing a
//! user types is read as query syntax), without English stop words. The same list as
//! Lucene's `EnglishAnalyzer` (and bm25s's `"en"`): words so common that matching them says
//! nothing about relevance, and that would otherwise count in every chunk's length. Pure.

/// Lucene's English stop set.
pub const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// The query's words in order, lower-cased, once each, stop words left out (the index does
/// not hold them: a query of stop words alone finds nothing, as in Lucene).
pub fn query_words(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in words(text) {
        let word = word.to_lowercase();
        if !is_stop_word(&word) && !found.contains(&word) {
            found.push(word);
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
    fn stop_words_and_syntax_are_dropped() {
        assert_eq!(query_words("What is the refund* policy OR \"the\" Policy?"), ["what", "refund", "policy"]);
        assert!(query_words("The and").is_empty(), "only stop words: nothing to look for");
        assert!(query_words("?! -").is_empty());
    }

    #[test]
    fn indexed_text_keeps_every_other_word_in_order() {
        assert_eq!(indexed_text("The Wing's lift, at Mach 2.5 (and its drag)."), "Wing s lift Mach 2 5 its drag");
        assert_eq!(indexed_text("Ünïcode café — naïve"), "Ünïcode café naïve");
        assert_eq!(indexed_text("to be or not"), "");
    }
}
