//! Reranking: a cross-encoder reads the query beside each of the search's first candidates
//! and scores them together, which ranks better than comparing two separately made
//! vectors. Bedrock's `Rerank` API (`amazon.rerank-v1:0`, `cohere.rerank-v3-5:0`) is the
//! reranker deployed; [`reorder`], the pure part, is tested without it.

#[cfg(feature = "aws")]
mod bedrock;

use async_trait::async_trait;
use seams_platform::ServiceError;

use crate::index::Hit;

#[cfg(feature = "aws")]
pub use bedrock::BedrockReranker;

pub const DEFAULT_MODEL: &str = "amazon.rerank-v1:0";

/// Candidates sent to the reranker when the caller asks for fewer: the reranker can only
/// promote what the search found.
pub const DEFAULT_CANDIDATES: usize = 50;

/// Bedrock's limit on the documents of one `Rerank` request.
pub const MAX_CANDIDATES: usize = 1000;

/// When and with what retrieve reranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerankSettings {
    /// The reranking model (`SEAMS_RERANK_MODEL`); without one, a request to rerank is refused.
    pub model: Option<String>,
    /// Whether requests that do not say are reranked (`SEAMS_RERANK`).
    pub by_default: bool,
    /// How many of the search's first results the model reads (`SEAMS_RERANK_CANDIDATES`).
    pub candidates: usize,
}

impl Default for RerankSettings {
    fn default() -> Self {
        Self { model: None, by_default: false, candidates: DEFAULT_CANDIDATES }
    }
}

/// A passage's relevance to the query, by its position in what was sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relevance {
    pub index: usize,
    pub score: f64,
}

/// One reranking model.
#[async_trait]
pub trait Reranker: Send + Sync {
    /// The model id results name as `rerank_model`.
    fn model(&self) -> &str;

    /// The `top_n` passages most relevant to `query`, best first.
    async fn rerank(&self, query: &str, passages: &[&str], top_n: usize) -> Result<Vec<Relevance>, ServiceError>;
}

/// `hits` in the reranker's order, each with its relevance, cut to `top_k`. A relevance
/// naming a passage that was not sent, or one named twice, is a reranker fault.
pub fn reorder(hits: Vec<Hit>, relevance: &[Relevance], top_k: usize) -> Result<Vec<(Hit, f64)>, ServiceError> {
    let mut slots: Vec<Option<Hit>> = hits.into_iter().map(Some).collect();
    let mut reordered = Vec::with_capacity(relevance.len().min(top_k));
    for scored in relevance.iter().take(top_k) {
        let hit = slots.get_mut(scored.index).and_then(Option::take).ok_or_else(|| {
            ServiceError::transient(format!("the reranker returned passage {} twice or out of range", scored.index))
        })?;
        reordered.push((hit, scored.score));
    }
    Ok(reordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexedChunk;
    use seams_contracts::retrieve::{Citation, Ranks};
    use seams_contracts::ErrorName;

    fn hits(ids: &[&str]) -> Vec<Hit> {
        let hit = |id: &&str| Hit {
            document_id: format!("doc-{id}"),
            version: 1,
            chunk: IndexedChunk {
                chunk_id: (*id).to_owned(),
                ordinal: 0,
                text: format!("passage {id}"),
                citation: Citation { source_uri: None, title: None, heading_path: Vec::new(), page: None },
                metadata: serde_json::Map::new(),
                embedding: Vec::new(),
                parent: None,
            },
            score: 1.0,
            ranks: Ranks::default(),
        };
        ids.iter().map(hit).collect()
    }

    fn ids(reordered: &[(Hit, f64)]) -> Vec<String> {
        reordered.iter().map(|(hit, _)| hit.chunk.chunk_id.clone()).collect()
    }

    #[test]
    fn results_follow_the_rerankers_order_and_carry_its_scores() {
        let relevance = [Relevance { index: 2, score: 0.9 }, Relevance { index: 0, score: 0.4 }];
        let reordered = reorder(hits(&["a", "b", "c"]), &relevance, 5).unwrap();
        assert_eq!(ids(&reordered), ["c", "a"]);
        assert_eq!(reordered[0].1, 0.9);
        assert_eq!(reordered[0].0.score, 1.0, "the search's own score is kept");
    }

    #[test]
    fn results_are_cut_to_top_k() {
        let relevance = [Relevance { index: 1, score: 0.9 }, Relevance { index: 0, score: 0.4 }];
        assert_eq!(ids(&reorder(hits(&["a", "b"]), &relevance, 1).unwrap()), ["b"]);
    }

    #[test]
    fn a_passage_named_twice_or_out_of_range_is_refused() {
        let twice = [Relevance { index: 0, score: 0.9 }, Relevance { index: 0, score: 0.4 }];
        assert_eq!(reorder(hits(&["a", "b"]), &twice, 5).unwrap_err().name, ErrorName::Transient);
        let outside = [Relevance { index: 7, score: 0.9 }];
        assert!(reorder(hits(&["a"]), &outside, 5).is_err());
    }
}
