//! BERT's encoder, as much of it as a sentence-embedding model runs: embeddings, then
//! self-attention and feed-forward layers, over candle's tensors and layers.
//!
//! Ported from candle-transformers 0.9.2 (`models/bert.rs`, MIT or Apache-2.0), whose forward
//! pass this is, less what inference never runs (dropout, tracing spans, the masked-LM head).
//! That crate compiles some hundred models to provide this one: carrying the encoder here
//! takes it out of the local binary's first build (decision 38). The reference-value test
//! (`tests/local_model.rs`) checks the vectors.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The activation of the feed-forward layers (`hidden_act` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenAct {
    Gelu,
    GeluApproximate,
    Relu,
}

/// The fields of a BERT checkpoint's config.json that shape the encoder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: HiddenAct,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        Ok(Self {
            words: embedding(config.vocab_size, config.hidden_size, vb.pp("word_embeddings"))?,
            positions: embedding(config.max_position_embeddings, config.hidden_size, vb.pp("position_embeddings"))?,
            token_types: embedding(config.type_vocab_size, config.hidden_size, vb.pp("token_type_embeddings"))?,
            layer_norm: layer_norm(config.hidden_size, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor) -> Result<Tensor> {
        let (_, length) = input_ids.dims2()?;
        let positions = Tensor::arange(0u32, length as u32, input_ids.device())?;
        let summed = (self.words.forward(input_ids)? + self.token_types.forward(token_type_ids)?)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        self.layer_norm.forward(&summed)
    }
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
    head_size: usize,
}

impl SelfAttention {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let head_size = config.hidden_size / config.num_attention_heads;
        let all_heads = config.num_attention_heads * head_size;
        Ok(Self {
            query: linear(config.hidden_size, all_heads, vb.pp("query"))?,
            key: linear(config.hidden_size, all_heads, vb.pp("key"))?,
            value: linear(config.hidden_size, all_heads, vb.pp("value"))?,
            heads: config.num_attention_heads,
            head_size,
        })
    }

    /// (batch, length, hidden) → (batch, heads, length, head size).
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (batch, length, _) = xs.dims3()?;
        xs.reshape((batch, length, self.heads, self.head_size))?.transpose(1, 2)?.contiguous()
    }

    fn forward(&self, hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let query = self.split_heads(&self.query.forward(hidden)?)?;
        let key = self.split_heads(&self.key.forward(hidden)?)?;
        let value = self.split_heads(&self.value.forward(hidden)?)?;
        let scores = (query.matmul(&key.t()?)? / (self.head_size as f64).sqrt())?.broadcast_add(attention_mask)?;
        let probabilities = candle_nn::ops::softmax(&scores, D::Minus1)?;
        probabilities.matmul(&value)?.transpose(1, 2)?.contiguous()?.flatten_from(D::Minus2)
    }
}

/// A dense layer, then layer norm over its output plus the residual.
struct AddAndNorm {
    dense: Linear,
    layer_norm: LayerNorm,
}

impl AddAndNorm {
    fn load(vb: VarBuilder, input_size: usize, config: &Config) -> Result<Self> {
        Ok(Self {
            dense: linear(input_size, config.hidden_size, vb.pp("dense"))?,
            layer_norm: layer_norm(config.hidden_size, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, hidden: &Tensor, residual: &Tensor) -> Result<Tensor> {
        self.layer_norm.forward(&(self.dense.forward(hidden)? + residual)?)
    }
}

struct Layer {
    attention: SelfAttention,
    attention_output: AddAndNorm,
    intermediate: Linear,
    activation: HiddenAct,
    output: AddAndNorm,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::load(vb.pp("attention.self"), config)?,
            attention_output: AddAndNorm::load(vb.pp("attention.output"), config.hidden_size, config)?,
            intermediate: linear(config.hidden_size, config.intermediate_size, vb.pp("intermediate.dense"))?,
            activation: config.hidden_act,
            output: AddAndNorm::load(vb.pp("output"), config.intermediate_size, config)?,
        })
    }

    fn forward(&self, hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let attended = self.attention_output.forward(&self.attention.forward(hidden, attention_mask)?, hidden)?;
        let intermediate = self.intermediate.forward(&attended)?;
        let activated = match self.activation {
            HiddenAct::Gelu => intermediate.gelu_erf()?,
            HiddenAct::GeluApproximate => intermediate.gelu()?,
            HiddenAct::Relu => intermediate.relu()?,
        };
        self.output.forward(&activated, &attended)
    }
}

/// The encoder: last hidden states for each token.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl BertModel {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { embeddings: Embeddings::load(vb.pp("embeddings"), config)?, layers })
    }

    /// (batch, length) ids, token types and a mask of 1 for tokens, 0 for padding →
    /// (batch, length, hidden).
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let mut hidden = self.embeddings.forward(input_ids, token_type_ids)?;
        let dtype = hidden.dtype();
        let mask = additive_mask(attention_mask, dtype)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &mask)?;
        }
        Ok(hidden)
    }
}

/// 0 where a token may be attended to, the dtype's minimum where it is padding, shaped to
/// broadcast over (batch, heads, query, key).
fn additive_mask(attention_mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let mask = attention_mask.unsqueeze(1)?.unsqueeze(1)?.to_dtype(dtype)?;
    let minimum = Tensor::new(f32::MIN, mask.device())?.to_dtype(dtype)?;
    (mask.ones_like()? - &mask)?.broadcast_mul(&minimum)
}
