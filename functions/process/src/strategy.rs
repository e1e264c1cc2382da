//! How a document is cut into chunks: Amazon Bedrock Knowledge Bases' four strategies,
//! chosen for the deployment by `SEAMS_CHUNKING` and per document by its `chunking`
//! attribute. Pure: the semantic strategy's embeddings are made by the caller.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use seams_contracts::{AttributeValue, Attributes};
use seams_embeddings::TokenCounter;
use seams_platform::ServiceError;

/// The document attribute that overrides `SEAMS_CHUNKING` for one document.
pub const ATTRIBUTE: &str = "chunking";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunking {
    /// Token-sized chunks at the strongest structural break, with overlap.
    #[default]
    Fixed,
    /// Child chunks are searched; the parent chunk that holds them is what retrieve returns.
    Hierarchical,
    /// Breaks where neighbouring sentences' meanings drift apart, within the token limit.
    Semantic,
    /// The whole document as one chunk, refused above the embedder's limit.
    None,
}

impl Chunking {
    pub const ALL: [Chunking; 4] = [Chunking::Fixed, Chunking::Hierarchical, Chunking::Semantic, Chunking::None];

    pub fn name(self) -> &'static str {
        match self {
            Chunking::Fixed => "fixed",
            Chunking::Hierarchical => "hierarchical",
            Chunking::Semantic => "semantic",
            Chunking::None => "none",
        }
    }

    /// The document's own choice (its `chunking` attribute) over the deployment's.
    pub fn for_document(default: Chunking, attributes: &Attributes) -> Result<Chunking, ServiceError> {
        match attributes.get(ATTRIBUTE) {
            None => Ok(default),
            Some(AttributeValue::String(name)) => name
                .parse()
                .map_err(|e: UnknownChunking| ServiceError::invalid_input("attributes.chunking", e.to_string())),
            Some(_) => Err(ServiceError::invalid_input("attributes.chunking", "must be a string")),
        }
    }
}

impl fmt::Display for Chunking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chunking strategy {0:?}: expected fixed, hierarchical, semantic or none")]
pub struct UnknownChunking(String);

impl FromStr for Chunking {
    type Err = UnknownChunking;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Chunking::ALL.into_iter().find(|c| c.name() == name.trim()).ok_or_else(|| UnknownChunking(name.to_owned()))
    }
}

/// The semantic strategy's knobs (Bedrock's names: buffer size, breakpoint percentile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemanticSettings {
    /// Sentences on each side of a sentence embedded with it.
    pub buffer: usize,
    /// A break falls where the distance between neighbouring groups is above this
    /// percentile of the document's distances.
    pub percentile: u8,
}

impl Default for SemanticSettings {
    fn default() -> Self {
        Self { buffer: 1, percentile: 95 }
    }
}

/// For each sentence, the text of it and `buffer` sentences on each side: what is embedded.
pub fn sentence_groups<'a>(text: &'a str, sentences: &[Range<usize>], buffer: usize) -> Vec<&'a str> {
    let last = sentences.len().saturating_sub(1);
    (0..sentences.len())
        .map(|i| &text[sentences[i.saturating_sub(buffer)].start..sentences[(i + buffer).min(last)].end])
        .collect()
}

/// The longest prefix of `text` (at a character boundary) within `limit` tokens: `text` itself
/// when it fits. Halves and grows by halves, so a few counts find it.
pub fn prefix_within<'a>(text: &'a str, limit: usize, counter: &dyn TokenCounter) -> &'a str {
    if counter.count(text) <= limit {
        return text;
    }
    let (mut fits, mut over) = (0, text.len());
    while over - fits > 1 {
        let middle = text.floor_char_boundary(fits + (over - fits) / 2);
        if middle <= fits {
            break;
        }
        if counter.count(&text[..middle]) <= limit {
            fits = middle;
        } else {
            over = middle;
        }
    }
    &text[..fits]
}

/// Where the semantic strategy cuts: after sentence `i` (at its end) when the cosine
/// distance between group `i` and group `i + 1` is above the `percentile`th of all of them.
pub fn semantic_walls(sentences: &[Range<usize>], groups: &[Vec<f32>], percentile: u8) -> Vec<usize> {
    let distances: Vec<f64> = groups.windows(2).map(|pair| cosine_distance(&pair[0], &pair[1])).collect();
    let Some(threshold) = percentile_of(&distances, percentile) else { return Vec::new() };
    distances.iter().zip(sentences).filter(|(d, _)| **d > threshold).map(|(_, sentence)| sentence.end).collect()
}

fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let norms = norm(a) * norm(b);
    if norms == 0.0 {
        1.0
    } else {
        1.0 - dot / norms
    }
}

/// The `p`th percentile with linear interpolation between ranks (numpy's default, which
/// LangChain's semantic chunker uses).
fn percentile_of(values: &[f64], p: u8) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = f64::from(p.min(100)) / 100.0 * (sorted.len().checked_sub(1)? as f64);
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        for chunking in Chunking::ALL {
            assert_eq!(chunking.name().parse::<Chunking>(), Ok(chunking));
        }
        assert!("paragraphs".parse::<Chunking>().unwrap_err().to_string().contains("\"paragraphs\""));
    }

    #[test]
    fn a_documents_attribute_overrides_the_deployment() {
        let mut attributes = Attributes::new();
        assert_eq!(Chunking::for_document(Chunking::Semantic, &attributes).unwrap(), Chunking::Semantic);
        attributes.insert(ATTRIBUTE.into(), AttributeValue::String("none".into()));
        assert_eq!(Chunking::for_document(Chunking::Semantic, &attributes).unwrap(), Chunking::None);
        attributes.insert(ATTRIBUTE.into(), AttributeValue::String("pages".into()));
        let error = Chunking::for_document(Chunking::Fixed, &attributes).unwrap_err();
        assert_eq!(error.detail, "unknown chunking strategy \"pages\": expected fixed, hierarchical, semantic or none");
    }

    #[test]
    fn groups_hold_the_buffer_on_each_side() {
        let text = "A. B. C. D.";
        let sentences = [0..2, 3..5, 6..8, 9..11];
        assert_eq!(sentence_groups(text, &sentences, 1), ["A. B.", "A. B. C.", "B. C. D.", "C. D."]);
        assert_eq!(sentence_groups(text, &sentences, 0), ["A.", "B.", "C.", "D."]);
    }

    #[test]
    fn walls_fall_where_meaning_jumps() {
        // Two topics: the first three sentences point one way, the last three another.
        let groups = [[1.0, 0.0], [0.99, 0.1], [0.98, 0.15], [0.0, 1.0], [0.1, 0.99], [0.12, 0.98]];
        let groups: Vec<Vec<f32>> = groups.iter().map(|g| g.to_vec()).collect();
        let sentences: Vec<Range<usize>> = (0..6).map(|i| i * 10..i * 10 + 5).collect();
        assert_eq!(semantic_walls(&sentences, &groups, 95), [25], "one wall, after the third sentence");
        assert!(semantic_walls(&sentences, &groups, 100).is_empty(), "nothing is above the maximum");
        assert!(semantic_walls(&sentences[..1], &groups[..1], 95).is_empty());
    }

    #[test]
    fn a_group_too_long_for_the_model_is_cut_to_what_it_reads() {
        let text = "Receipts are kept for every purchase. ".repeat(50);
        let counter = crate::tokenizer::Cl100k;
        let prefix = prefix_within(&text, 40, &counter);
        assert!(counter.count(prefix) <= 40 && counter.count(&text[..prefix.len() + 1]) > 40, "{prefix:?}");
        assert_eq!(prefix_within("short", 40, &counter), "short");
        assert_eq!(prefix_within("日本語の文章", 1, &counter).len() % 3, 0, "at a character boundary");
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let p95 = percentile_of(&[1.0, 2.0, 3.0, 4.0, 5.0], 95).unwrap();
        assert!((p95 - 4.8).abs() < 1e-9, "{p95}");
        assert_eq!(percentile_of(&[3.0], 50), Some(3.0));
        assert_eq!(percentile_of(&[], 50), None);
    }
}
