//! The offline, deterministic embedder: signed feature hashing of word unigrams, word
//! bigrams and character trigrams into a fixed number of dimensions, L2-normalised.
//!
//! It is lexical, not semantic: texts that share words and spellings are close, synonyms
//! are not. It needs no model, no network and no key, so it is the default locally and in
//! tests; deployments pick a semantic model (Bedrock, OpenAI-compatible) by configuration.

use async_trait::async_trait;

use crate::{EmbedError, Embedder, EmbeddingModel};

pub const MODEL_ID: &str = "seams-hashing-v1";
pub const DEFAULT_DIMS: u32 = 384;

/// Word features weigh more than spelling features: whole words carry most of the meaning
/// a lexical model can see.
const UNIGRAM_WEIGHT: f32 = 1.0;
const BIGRAM_WEIGHT: f32 = 0.7;
const TRIGRAM_WEIGHT: f32 = 0.3;

pub struct HashingEmbedder {
    model: EmbeddingModel,
}

impl HashingEmbedder {
    pub fn new(dims: u32) -> Self {
        Self { model: EmbeddingModel { model: format!("{MODEL_ID}-{dims}"), dims: dims.max(1) } }
    }

    /// One text's vector; `None` when the text is blank. Features are hashed straight from
    /// reused buffers: the text is read once, nothing is allocated per word.
    pub fn vector(&self, text: &str) -> Option<Vec<f32>> {
        let dims = self.model.dims as usize;
        let mut vector = vec![0.0f32; dims];
        let mut add = |hash: u64, weight: f32| {
            let index = (hash % dims as u64) as usize;
            // The top bit decides the sign, so colliding features tend to cancel, not pile up.
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[index] += sign * weight;
        };
        let mut padded = Vec::new();
        let mut char_starts = Vec::new();
        let (mut word, mut previous, mut words) = (String::new(), String::new(), 0usize);
        // Added after the words' features, in the order vectors were always summed in.
        let mut bigrams = Vec::new();
        // A text without a word character ("|---|---|", "🙂🙂") is read as its runs between
        // blanks: a document's chunk may be all table rules, art or emoji, and refusing its
        // vector failed the whole document.
        let separator: fn(char) -> bool =
            if text.chars().any(char::is_alphanumeric) { |c| !c.is_alphanumeric() } else { char::is_whitespace };
        for raw in text.split(separator).filter(|w| !w.is_empty()) {
            lowercase_into(raw, &mut word);
            add(fnv1a_from(WORD, word.as_bytes()), UNIGRAM_WEIGHT);
            // Character trigrams of " word ".
            padded.clear();
            padded.push(b' ');
            padded.extend_from_slice(word.as_bytes());
            padded.push(b' ');
            if word.is_ascii() {
                // One byte per character: the trigrams are the byte windows.
                for trigram in padded.windows(3) {
                    add(fnv1a_from(TRIGRAM, trigram), TRIGRAM_WEIGHT);
                }
            } else {
                char_starts.clear();
                char_starts.push(0);
                char_starts.extend(word.char_indices().map(|(at, _)| at + 1));
                char_starts.extend([padded.len() - 1, padded.len()]);
                for window in char_starts.windows(4) {
                    add(fnv1a_from(TRIGRAM, &padded[window[0]..window[3]]), TRIGRAM_WEIGHT);
                }
            }
            if words > 0 {
                bigrams.push(fnv1a_from(fnv1a_from(fnv1a_from(BIGRAM, previous.as_bytes()), b" "), word.as_bytes()));
            }
            std::mem::swap(&mut previous, &mut word);
            words += 1;
        }
        if words == 0 {
            return None;
        }
        bigrams.into_iter().for_each(|hash| add(hash, BIGRAM_WEIGHT));
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            return None;
        }
        vector.iter_mut().for_each(|x| *x /= norm);
        Some(vector)
    }
}

/// `word` lowercased into `into`, exactly as `str::to_lowercase` does: char by char, except
/// for the one context-dependent mapping (final sigma), left to the standard library.
fn lowercase_into(word: &str, into: &mut String) {
    into.clear();
    if word.is_ascii() {
        into.push_str(word);
        into.make_ascii_lowercase();
    } else if word.contains('Σ') {
        into.push_str(&word.to_lowercase());
    } else {
        into.extend(word.chars().flat_map(char::to_lowercase));
    }
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        Self::new(DEFAULT_DIMS)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a continued from `hash` over `bytes`: stable across platforms and Rust
/// versions, which a persisted vector needs (std's `DefaultHasher` promises neither). `const`
/// so a feature's prefix (`w:`, `c:`, `b:`) is hashed once at compile time, not per feature.
const fn fnv1a_from(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut at = 0;
    while at < bytes.len() {
        hash = (hash ^ bytes[at] as u64).wrapping_mul(0x0100_0000_01b3);
        at += 1;
    }
    hash
}

const WORD: u64 = fnv1a_from(FNV_OFFSET, b"w:");
const TRIGRAM: u64 = fnv1a_from(FNV_OFFSET, b"c:");
const BIGRAM: u64 = fnv1a_from(FNV_OFFSET, b"b:");

#[async_trait]
impl Embedder for HashingEmbedder {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    fn max_batch(&self) -> usize {
        1024
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| self.vector(text).ok_or_else(|| EmbedError::Invalid(format!("text {i} is blank"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_are_deterministic_unit_length_and_sized() {
        let embedder = HashingEmbedder::default();
        let a = embedder.vector("Refunds are issued within 14 days.").unwrap();
        assert_eq!(a, embedder.vector("Refunds are issued within 14 days.").unwrap());
        assert_eq!(a.len(), 384);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let embedder = HashingEmbedder::default();
        let query = embedder.vector("refund policy for digital products").unwrap();
        let related = embedder.vector("Our refund policy: digital products can be refunded within 14 days.").unwrap();
        let unrelated = embedder.vector("The cafeteria opens at eight and serves breakfast until ten.").unwrap();
        assert!(cosine(&query, &related) > cosine(&query, &unrelated) + 0.2);
    }

    #[test]
    fn case_and_punctuation_do_not_matter() {
        let embedder = HashingEmbedder::default();
        assert_eq!(embedder.vector("Refund, POLICY!").unwrap(), embedder.vector("refund policy").unwrap());
    }

    /// The first implementation, a String per feature: vectors already stored were made by
    /// it, so today's must equal it.
    fn reference_vector(dims: usize, text: &str) -> Option<Vec<f32>> {
        let mut vector = vec![0.0f32; dims];
        // Texts without a word character were refused (None) until 2026-12-07.
        let separator: fn(char) -> bool =
            if text.chars().any(char::is_alphanumeric) { |c| !c.is_alphanumeric() } else { char::is_whitespace };
        let words: Vec<String> = text.split(separator).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        if words.is_empty() {
            return None;
        }
        let mut add = |feature: &[u8], weight: f32| {
            let hash = fnv1a_from(FNV_OFFSET, feature);
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[(hash % dims as u64) as usize] += sign * weight;
        };
        for word in &words {
            add(&[b"w:", word.as_bytes()].concat(), UNIGRAM_WEIGHT);
            let padded: Vec<char> = format!(" {word} ").chars().collect();
            for trigram in padded.windows(3) {
                add(&[b"c:", trigram.iter().collect::<String>().as_bytes()].concat(), TRIGRAM_WEIGHT);
            }
        }
        for pair in words.windows(2) {
            add(&[b"b:", pair[0].as_bytes(), b" ", pair[1].as_bytes()].concat(), BIGRAM_WEIGHT);
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        vector.iter_mut().for_each(|x| *x /= norm);
        Some(vector)
    }

    #[test]
    fn vectors_equal_the_first_implementations() {
        let embedder = HashingEmbedder::default();
        for text in [
            "Refunds are issued within 14 days.",
            "a",
            "ΟΔΟΣ Σοφίας, İstanbul'da ǅemal; naïve CAFÉ ß 日本語のテキスト 🎉 x2 ÀÉ",
            "   --  ",
            "|---|---| 🙂",
            " \n ",
            "one\ttwo\nthree  four",
        ] {
            assert_eq!(embedder.vector(text), reference_vector(384, text), "{text}");
        }
    }

    #[test]
    fn the_model_id_names_the_size() {
        assert_eq!(HashingEmbedder::new(64).model(), &EmbeddingModel { model: "seams-hashing-v1-64".into(), dims: 64 });
    }

    #[tokio::test]
    async fn blank_text_is_refused() {
        let error = HashingEmbedder::default().embed(&["ok", " \n\t "]).await.unwrap_err();
        assert_eq!(error, EmbedError::Invalid("text 1 is blank".into()));
    }

    /// A chunk of table rules failed its whole document.
    #[test]
    fn text_without_words_embeds_its_symbols() {
        let embedder = HashingEmbedder::default();
        let rules = embedder.vector("|---|---|\n|---|---|").unwrap();
        let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!((cosine(&rules, &rules) - 1.0).abs() < 1e-5, "unit length");
        assert!(cosine(&rules, &embedder.vector("|---|---|").unwrap()) > 0.9, "alike symbols are near");
        assert!(cosine(&rules, &embedder.vector("👍🏽 👍🏽").unwrap()) < 0.5, "other symbols are not");
        // A word anywhere and the symbols are separators, as before.
        assert_eq!(embedder.vector("-- ok --"), embedder.vector("ok"));
    }
}
