//! The words a keyword search looks for: letters and digits only (so nothing a user types
//! is read as query syntax), lower-cased, without English stop words. The same list as
//! Lucene's `EnglishAnalyzer` (and bm25s's `"en"`): words so common that matching them says
//! nothing about relevance, while each still adds to a chunk's BM25 score. Pure.

/// Lucene's English stop set.
pub const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The query's words in order, once each. A query made only of stop words keeps them, so
/// that it still finds something.
pub fn query_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    let content: Vec<String> = words.iter().filter(|w| !is_stop_word(w)).cloned().collect();
    if content.is_empty() {
        words
    } else {
        content
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_and_syntax_are_dropped() {
        assert_eq!(query_words("What is the refund* policy OR \"the\" Policy?"), ["what", "refund", "policy"]);
        assert_eq!(query_words("the and"), ["the", "and"], "only stop words: kept");
        assert!(query_words("?! -").is_empty());
    }
}
