//! The local model against reference values for these weights (sentence-transformers:
//! mean pooling over the attention mask, then L2 normalisation). The weights are installed
//! by scripts/setup.sh; without them this test fails, naming the command.

use std::path::PathBuf;

use seams_embeddings::local_model::{LocalEmbedder, MAX_WORD_PIECES};
use seams_embeddings::{EmbedError, Embedder};

fn model_dir() -> PathBuf {
    std::env::var_os("SEAMS_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/models/all-MiniLM-L6-v2"))
}

fn embedder() -> LocalEmbedder {
    LocalEmbedder::load(&model_dir())
        .unwrap_or_else(|e| panic!("{e}: run scripts/setup.sh (it installs the model) or set SEAMS_MODEL_DIR"))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn sentences_land_where_the_reference_puts_them() {
    let embedder = embedder();
    let vectors = embedder
        .embed(&["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."])
        .await
        .unwrap();
    assert_eq!(embedder.model().dims, 384);
    assert!(vectors.iter().all(|v| v.len() == 384 && (cosine(v, v) - 1.0).abs() < 1e-4), "unit vectors");
    let similar = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!((similar - 0.755).abs() <= 0.005, "cosine(food, bread) = {similar}");
    assert!((unrelated - -0.046).abs() <= 0.01, "cosine(food, movie) = {unrelated}");

    // Alone or among others (spread over threads): the same vector, in its place.
    let alone = embedder.embed(&["A man is eating a piece of bread."]).await.unwrap();
    assert_eq!(alone[0], vectors[1]);
}

#[tokio::test]
async fn a_batch_comes_back_in_the_order_it_was_given() {
    let embedder = embedder();
    let texts: Vec<String> = (0..9).map(|i| format!("text number {i} about {}", "wings ".repeat(i))).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let together = embedder.embed(&texts).await.unwrap();
    for (text, vector) in texts.iter().zip(&together) {
        assert_eq!(&embedder.embed(&[text]).await.unwrap()[0], vector, "{text}");
    }
}

#[tokio::test]
async fn a_text_past_the_model_limit_is_refused_not_cut() {
    let embedder = embedder();
    let long = "word ".repeat(MAX_WORD_PIECES);
    let refused = embedder.embed(&[long.as_str()]).await.unwrap_err();
    assert!(matches!(&refused, EmbedError::Invalid(reason) if reason.contains("at most 256")), "{refused}");
    let (counter, limit) = embedder.token_counter().expect("chunks are sized by the model's own tokenizer");
    assert_eq!(limit, MAX_WORD_PIECES - 2);
    assert_eq!(counter.count("unaffable"), 3, "word pieces: un ##aff ##able");
}

#[test]
fn a_missing_model_names_its_path() {
    let error = LocalEmbedder::load(std::path::Path::new("/nonexistent/model")).err().unwrap().to_string();
    assert!(error.contains("/nonexistent/model/config.json"), "{error}");
}
