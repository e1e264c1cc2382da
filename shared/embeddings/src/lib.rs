//! The `Embedder` seam, shared by process (documents, in batches) and retrieve (queries):
//! both must embed with the same model for vectors to be comparable, so every vector
//! travels with the [`EmbeddingModel`] that made it.

#[cfg(feature = "aws")]
pub mod bedrock;
pub mod config;
pub mod hashing;
pub mod local_model;
pub mod openai;

use async_trait::async_trait;
pub use seams_contracts::process::EmbeddingModel;
use seams_contracts::ErrorName;

/// What the vectors are for. Some models (Cohere) embed documents and queries differently;
/// process embeds documents, retrieve queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Documents,
    Queries,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// Throttled, overloaded, timed out or a server error: retry later.
    #[error("embedding provider unavailable: {0}")]
    Transient(String),
    /// The provider refused the input (too long, empty, wrong format).
    #[error("embedding input refused: {0}")]
    Invalid(String),
}

impl EmbedError {
    pub fn error_name(&self) -> ErrorName {
        match self {
            EmbedError::Transient(_) => ErrorName::Transient,
            EmbedError::Invalid(_) => ErrorName::InvalidInput,
        }
    }
}

impl From<EmbedError> for seams_platform::ServiceError {
    fn from(error: EmbedError) -> Self {
        Self::new(error.error_name(), error.to_string())
    }
}

/// Counts the tokens a model reads in a text: what chunks are sized by.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;

    /// `text` cut where the tokenizer cuts it before encoding (its pre-tokens), each piece
    /// with its tokens; the pieces' tokens add up to `count(text)`. One call sizes every run
    /// of pieces of a long text, so a chunker need not count each candidate chunk again.
    /// The default cuts before each run of whitespace and counts each word with the
    /// whitespace before it: right for tokenizers that never join two words into a token.
    fn pieces(&self, text: &str) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut in_word = false;
        for (at, c) in text.char_indices() {
            if c.is_whitespace() && in_word {
                pieces.push(Piece { end: at, tokens: self.count(&text[start..at]) });
                start = at;
            }
            in_word = !c.is_whitespace();
        }
        if start < text.len() {
            pieces.push(Piece { end: text.len(), tokens: self.count(&text[start..]) });
        }
        pieces
    }
}

/// A run of text the tokenizer encodes on its own: it ends at byte `end` (and starts where
/// the one before it ended) and encodes to `tokens` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub end: usize,
    pub tokens: usize,
}

#[async_trait]
pub trait Embedder: Send + Sync {
    /// The embedder's own tokenizer and the most tokens it reads in one text, when it has a
    /// limit callers must size their texts by (a local model); providers that read more
    /// than any chunk have none.
    fn token_counter(&self) -> Option<(std::sync::Arc<dyn TokenCounter>, usize)> {
        None
    }

    /// The model id and vector size; recorded with every vector this embedder makes.
    fn model(&self) -> &EmbeddingModel;

    /// The most texts one `embed` call may take; callers split larger inputs.
    fn max_batch(&self) -> usize;

    /// One vector of `model().dims` numbers per text, in order.
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Embeds any number of texts, `max_batch` at a time, checking each answer's shape.
pub async fn embed_all(embedder: &dyn Embedder, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let mut vectors = Vec::with_capacity(texts.len());
    for batch in texts.chunks(embedder.max_batch().max(1)) {
        let embedded = embedder.embed(batch).await?;
        let dims = embedder.model().dims as usize;
        if embedded.len() != batch.len() || embedded.iter().any(|v| v.len() != dims) {
            return Err(EmbedError::Transient(format!(
                "{} returned {} vectors for {} texts (expected {dims} dimensions each)",
                embedder.model().model,
                embedded.len(),
                batch.len()
            )));
        }
        vectors.extend(embedded);
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records batch sizes; each vector is `[text length, batch index]`.
    struct Recorder {
        model: EmbeddingModel,
        batches: Mutex<Vec<usize>>,
        broken: bool,
    }

    #[async_trait]
    impl Embedder for Recorder {
        fn model(&self) -> &EmbeddingModel {
            &self.model
        }
        fn max_batch(&self) -> usize {
            3
        }
        async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            let mut batches = self.batches.lock().unwrap();
            batches.push(texts.len());
            let index = batches.len() as f32;
            let count = if self.broken { texts.len() - 1 } else { texts.len() };
            Ok(texts.iter().take(count).map(|t| vec![t.len() as f32, index]).collect())
        }
    }

    fn recorder(broken: bool) -> Recorder {
        Recorder { model: EmbeddingModel { model: "test".into(), dims: 2 }, batches: Mutex::new(vec![]), broken }
    }

    #[tokio::test]
    async fn texts_are_embedded_in_batches_of_max_batch_in_order() {
        let embedder = recorder(false);
        let texts = ["a", "bb", "ccc", "dddd", "eeeee", "f", "gg"];
        let vectors = embed_all(&embedder, &texts).await.unwrap();
        assert_eq!(*embedder.batches.lock().unwrap(), [3, 3, 1]);
        let lengths: Vec<f32> = vectors.iter().map(|v| v[0]).collect();
        assert_eq!(lengths, [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0]);
    }

    #[tokio::test]
    async fn a_short_answer_is_an_error_not_a_misaligned_result() {
        let error = embed_all(&recorder(true), &["a", "b"]).await.unwrap_err();
        assert!(matches!(error, EmbedError::Transient(ref m) if m.contains("1 vectors for 2 texts")), "{error}");
    }
}
