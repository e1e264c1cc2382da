//! BERT's encoder, as much of it as a sentence-embedding model runs: embeddings, then
//! self-attention and feed-forward layers, over plain `f32` matrices ([`crate::matrix`]).
//!
//! The forward pass follows candle-transformers 0.9.2 (`models/bert.rs`, MIT or Apache-2.0)
//! less what inference never runs (dropout, the masked-LM head). One text runs at a time, so
//! there is no padding and no attention mask; callers spread texts over cores. Why not
//! candle: decision 38. seams-embeddings' reference-value test (`tests/local_model.rs`) checks
//! the vectors.

pub mod matrix;

use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::matrix::{product, View, ViewMut};

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

/// Why a checkpoint or a text cannot go through the encoder.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error("{0}")]
    Weights(String),
    #[error("config.json: hidden_size {hidden} is not a multiple of num_attention_heads {heads}")]
    Heads { hidden: usize, heads: usize },
    #[error("word piece {id} is outside the model's vocabulary of {vocab}: tokenizer.json does not match the weights")]
    UnknownPiece { id: u32, vocab: usize },
    #[error("{length} word pieces are more than the model's {limit} positions")]
    TooLong { length: usize, limit: usize },
}

/// The checkpoint's tensors, read by name with their shapes checked.
struct Weights<'a>(SafeTensors<'a>);

impl Weights<'_> {
    /// The tensor `name` as row-major `f32`s, refused unless its shape is `shape`.
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, BertError> {
        let view = self.0.tensor(name).map_err(|e| BertError::Weights(format!("{name}: {e}")))?;
        if view.dtype() != Dtype::F32 {
            return Err(BertError::Weights(format!("{name} is {:?}; the encoder reads F32 weights", view.dtype())));
        }
        if view.shape() != shape {
            return Err(BertError::Weights(format!("{name} has shape {:?}, not {shape:?}", view.shape())));
        }
        Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

/// `x · weightᵀ + bias`, the weight stored (outputs × inputs) as PyTorch keeps it.
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    fn load(weights: &Weights, prefix: &str, inputs: usize, outputs: usize) -> Result<Self, BertError> {
        Ok(Self {
            weight: weights.tensor(&format!("{prefix}.weight"), &[outputs, inputs])?,
            bias: weights.tensor(&format!("{prefix}.bias"), &[outputs])?,
            inputs,
            outputs,
        })
    }

    /// (rows × inputs) → (rows × outputs).
    fn forward(&self, xs: &[f32], rows: usize) -> Vec<f32> {
        let mut out: Vec<f32> = self.bias.iter().copied().cycle().take(rows * self.outputs).collect();
        product(
            View::row_major(xs, rows, self.inputs),
            View::row_major(&self.weight, self.outputs, self.inputs).t(),
            ViewMut::row_major(&mut out, rows, self.outputs),
            1.0,
            true,
        );
        out
    }
}

struct LayerNorm {
    gain: Vec<f32>,
    bias: Vec<f32>,
    epsilon: f32,
}

impl LayerNorm {
    fn load(weights: &Weights, prefix: &str, config: &Config) -> Result<Self, BertError> {
        Ok(Self {
            gain: weights.tensor(&format!("{prefix}.weight"), &[config.hidden_size])?,
            bias: weights.tensor(&format!("{prefix}.bias"), &[config.hidden_size])?,
            epsilon: config.layer_norm_eps as f32,
        })
    }

    /// Normalises each row of `xs` in place.
    fn forward(&self, xs: &mut [f32]) {
        let width = self.gain.len();
        for row in xs.chunks_exact_mut(width) {
            let mean = row.iter().sum::<f32>() / width as f32;
            let variance = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / width as f32;
            let scale = 1.0 / (variance + self.epsilon).sqrt();
            for ((x, gain), bias) in row.iter_mut().zip(&self.gain).zip(&self.bias) {
                *x = (*x - mean) * scale * gain + bias;
            }
        }
    }
}

struct Embeddings {
    words: Vec<f32>,
    positions: Vec<f32>,
    /// Token type 0's row: every text here is a single segment.
    first_token_type: Vec<f32>,
    layer_norm: LayerNorm,
    vocab: usize,
    max_positions: usize,
}

impl Embeddings {
    fn load(weights: &Weights, config: &Config) -> Result<Self, BertError> {
        let hidden = config.hidden_size;
        let token_types =
            weights.tensor("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, hidden])?;
        Ok(Self {
            words: weights.tensor("embeddings.word_embeddings.weight", &[config.vocab_size, hidden])?,
            positions: weights
                .tensor("embeddings.position_embeddings.weight", &[config.max_position_embeddings, hidden])?,
            first_token_type: token_types.get(..hidden).map(<[f32]>::to_vec).ok_or_else(|| {
                BertError::Weights("embeddings.token_type_embeddings.weight has no token type".into())
            })?,
            layer_norm: LayerNorm::load(weights, "embeddings.LayerNorm", config)?,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
        })
    }

    /// Word + position + token type, normalised: (length × hidden).
    fn forward(&self, ids: &[u32]) -> Result<Vec<f32>, BertError> {
        if ids.len() > self.max_positions {
            return Err(BertError::TooLong { length: ids.len(), limit: self.max_positions });
        }
        let hidden = self.first_token_type.len();
        let mut xs = Vec::with_capacity(ids.len() * hidden);
        for (position, &id) in ids.iter().enumerate() {
            let word = (id as usize)
                .checked_mul(hidden)
                .and_then(|start| self.words.get(start..start + hidden))
                .ok_or(BertError::UnknownPiece { id, vocab: self.vocab })?;
            let place = &self.positions[position * hidden..(position + 1) * hidden];
            xs.extend(word.iter().zip(place).zip(&self.first_token_type).map(|((w, p), t)| w + p + t));
        }
        self.layer_norm.forward(&mut xs);
        Ok(xs)
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
    fn load(weights: &Weights, prefix: &str, config: &Config) -> Result<Self, BertError> {
        let hidden = config.hidden_size;
        Ok(Self {
            query: Linear::load(weights, &format!("{prefix}.query"), hidden, hidden)?,
            key: Linear::load(weights, &format!("{prefix}.key"), hidden, hidden)?,
            value: Linear::load(weights, &format!("{prefix}.value"), hidden, hidden)?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    /// Each head attends over the whole text; their outputs side by side: (length × hidden).
    fn forward(&self, hidden: &[f32], length: usize) -> Vec<f32> {
        let width = self.heads * self.head_size;
        let (query, key, value) =
            (self.query.forward(hidden, length), self.key.forward(hidden, length), self.value.forward(hidden, length));
        let mut context = vec![0.0; length * width];
        let mut scores = vec![0.0; length * length];
        let scale = 1.0 / (self.head_size as f32).sqrt();
        for head in 0..self.heads {
            let columns = head * self.head_size;
            product(
                View::row_major(&query, length, width).columns(columns, self.head_size),
                View::row_major(&key, length, width).columns(columns, self.head_size).t(),
                ViewMut::row_major(&mut scores, length, length),
                scale,
                false,
            );
            for row in scores.chunks_exact_mut(length) {
                softmax(row);
            }
            product(
                View::row_major(&scores, length, length),
                View::row_major(&value, length, width).columns(columns, self.head_size),
                ViewMut::row_major(&mut context, length, width).columns(columns, self.head_size),
                1.0,
                false,
            );
        }
        context
    }
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

/// A dense layer, then layer norm over its output plus the residual.
struct AddAndNorm {
    dense: Linear,
    layer_norm: LayerNorm,
}

impl AddAndNorm {
    fn load(weights: &Weights, prefix: &str, inputs: usize, config: &Config) -> Result<Self, BertError> {
        Ok(Self {
            dense: Linear::load(weights, &format!("{prefix}.dense"), inputs, config.hidden_size)?,
            layer_norm: LayerNorm::load(weights, &format!("{prefix}.LayerNorm"), config)?,
        })
    }

    fn forward(&self, xs: &[f32], residual: &[f32], length: usize) -> Vec<f32> {
        let mut out = self.dense.forward(xs, length);
        out.iter_mut().zip(residual).for_each(|(x, r)| *x += r);
        self.layer_norm.forward(&mut out);
        out
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
    fn load(weights: &Weights, prefix: &str, config: &Config) -> Result<Self, BertError> {
        let (hidden, intermediate) = (config.hidden_size, config.intermediate_size);
        Ok(Self {
            attention: SelfAttention::load(weights, &format!("{prefix}.attention.self"), config)?,
            attention_output: AddAndNorm::load(weights, &format!("{prefix}.attention.output"), hidden, config)?,
            intermediate: Linear::load(weights, &format!("{prefix}.intermediate.dense"), hidden, intermediate)?,
            activation: config.hidden_act,
            output: AddAndNorm::load(weights, &format!("{prefix}.output"), intermediate, config)?,
        })
    }

    fn forward(&self, hidden: &[f32], length: usize) -> Vec<f32> {
        let attended = self.attention_output.forward(&self.attention.forward(hidden, length), hidden, length);
        let mut intermediate = self.intermediate.forward(&attended, length);
        intermediate.iter_mut().for_each(|x| *x = activate(self.activation, *x));
        self.output.forward(&intermediate, &attended, length)
    }
}

fn activate(activation: HiddenAct, x: f32) -> f32 {
    match activation {
        // In f64 as candle computes it: erf in f32 drifts in the tails.
        HiddenAct::Gelu => {
            let x = f64::from(x);
            (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
        }
        HiddenAct::GeluApproximate => {
            let inner = (2.0 / std::f32::consts::PI).sqrt() * (x + 0.044_715 * x * x * x);
            0.5 * x * (1.0 + inner.tanh())
        }
        HiddenAct::Relu => x.max(0.0),
    }
}

/// The encoder: last hidden states for each word piece.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    hidden_size: usize,
}

impl BertModel {
    /// The encoder from a safetensors checkpoint's bytes; a missing tensor, a wrong shape or a
    /// dtype other than F32 is refused, naming the tensor.
    pub fn load(checkpoint: &[u8], config: &Config) -> Result<Self, BertError> {
        let (hidden, heads) = (config.hidden_size, config.num_attention_heads);
        if heads == 0 || hidden % heads != 0 {
            return Err(BertError::Heads { hidden, heads });
        }
        let weights = Weights(SafeTensors::deserialize(checkpoint).map_err(|e| BertError::Weights(e.to_string()))?);
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(&weights, &format!("encoder.layer.{index}"), config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { embeddings: Embeddings::load(&weights, config)?, layers, hidden_size: hidden })
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// One text's word-piece ids → its last hidden states, (length × hidden) row-major.
    pub fn forward(&self, ids: &[u32]) -> Result<Vec<f32>, BertError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut hidden = self.embeddings.forward(ids)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, ids.len());
        }
        Ok(hidden)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use safetensors::tensor::TensorView;

    use super::*;

    /// hidden 4, 2 heads, 1 layer, intermediate 8, 10 word pieces, 6 positions.
    fn config() -> Config {
        Config {
            vocab_size: 10,
            hidden_size: 4,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 8,
            hidden_act: HiddenAct::Gelu,
            max_position_embeddings: 6,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        }
    }

    /// Every tensor the encoder reads, with its shape.
    fn shapes(config: &Config) -> Vec<(String, Vec<usize>)> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let mut shapes = vec![
            ("embeddings.word_embeddings.weight".to_owned(), vec![config.vocab_size, h]),
            ("embeddings.position_embeddings.weight".to_owned(), vec![config.max_position_embeddings, h]),
            ("embeddings.token_type_embeddings.weight".to_owned(), vec![config.type_vocab_size, h]),
        ];
        // A dense layer's weight is (outputs × inputs); a layer norm's, a vector. Both have a bias.
        let mut layer = |name: &str, weight: Vec<usize>| {
            shapes.push((format!("{name}.bias"), vec![weight[0]]));
            shapes.push((format!("{name}.weight"), weight));
        };
        layer("embeddings.LayerNorm", vec![h]);
        for part in ["query", "key", "value"] {
            layer(&format!("encoder.layer.0.attention.self.{part}"), vec![h, h]);
        }
        layer("encoder.layer.0.attention.output.dense", vec![h, h]);
        layer("encoder.layer.0.attention.output.LayerNorm", vec![h]);
        layer("encoder.layer.0.intermediate.dense", vec![i, h]);
        layer("encoder.layer.0.output.dense", vec![h, i]);
        layer("encoder.layer.0.output.LayerNorm", vec![h]);
        shapes
    }

    /// A checkpoint with every tensor of `shapes`, filled with small varied values.
    fn checkpoint(shapes: &[(String, Vec<usize>)]) -> Vec<u8> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
            .iter()
            .map(|(name, shape)| {
                let count: usize = shape.iter().product();
                let data = (0..count).flat_map(|k| (((k * 7 % 13) as f32 - 6.0) / 10.0).to_le_bytes()).collect();
                (name.clone(), shape.clone(), data)
            })
            .collect();
        let views: Vec<(String, TensorView)> = bytes
            .iter()
            .map(|(name, shape, data)| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), data).unwrap()))
            .collect();
        safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()
    }

    #[test]
    fn a_complete_checkpoint_gives_one_row_of_finite_states_per_word_piece() {
        let config = config();
        let model = BertModel::load(&checkpoint(&shapes(&config)), &config).unwrap();
        let hidden = model.forward(&[1, 5, 9]).unwrap();
        assert_eq!(hidden.len(), 3 * 4);
        assert!(hidden.iter().all(|x| x.is_finite()), "{hidden:?}");
        assert_ne!(hidden[..4], hidden[4..8], "different pieces, different states");
    }

    #[test]
    fn a_wrong_or_missing_tensor_is_refused_naming_it() {
        let config = config();
        let key = "encoder.layer.0.attention.self.key.weight";
        let wrong: Vec<_> = shapes(&config)
            .into_iter()
            .map(|(name, shape)| if name == key { (name, vec![3, 4]) } else { (name, shape) })
            .collect();
        let error = BertModel::load(&checkpoint(&wrong), &config).err().unwrap().to_string();
        assert!(error.contains(key) && error.contains("[3, 4]"), "{error}");

        let mut missing = shapes(&config);
        let gone = missing.pop().unwrap().0;
        let error = BertModel::load(&checkpoint(&missing), &config).err().unwrap().to_string();
        assert!(error.contains(&gone), "{error}");

        let error = BertModel::load(b"not a checkpoint", &config).err().unwrap();
        assert!(matches!(error, BertError::Weights(_)), "{error}");

        let uneven = Config { num_attention_heads: 3, ..config.clone() };
        let error = BertModel::load(&checkpoint(&shapes(&config)), &uneven).err().unwrap();
        assert!(matches!(error, BertError::Heads { hidden: 4, heads: 3 }), "{error}");
    }

    #[test]
    fn pieces_outside_the_vocabulary_or_past_the_positions_are_errors_not_panics() {
        let config = config();
        let model = BertModel::load(&checkpoint(&shapes(&config)), &config).unwrap();
        assert!(matches!(model.forward(&[1, 10]), Err(BertError::UnknownPiece { id: 10, vocab: 10 })));
        assert!(matches!(model.forward(&[u32::MAX]), Err(BertError::UnknownPiece { .. })));
        assert!(matches!(model.forward(&[1; 7]), Err(BertError::TooLong { length: 7, limit: 6 })));
        assert_eq!(model.forward(&[]).unwrap(), Vec::<f32>::new());
    }
}
