//! How fast the local model embeds: one query at a time (p50, p99) and 256-word-piece chunks
//! in batches (chunks per second). Run on one core for the per-core figures:
//!
//!   taskset -c 0 cargo run --release -p seams-embeddings --example local_model_speed -- DIR
//!
//! DIR defaults to .tools/models/all-MiniLM-L6-v2. Prints one JSON object.

use std::time::Instant;

use seams_embeddings::local_model::LocalEmbedder;
use seams_embeddings::{embed_all, Embedder};

const QUERIES: [&str; 8] = [
    "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft",
    "how can the aerodynamic performance of channel flow ground effect machines be calculated",
    "what is the basic mechanism of the transonic aileron buzz",
    "papers on shock-sound wave interaction",
    "how long do card refunds take to appear",
    "can digital products be refunded",
    "when are deployments not allowed",
    "material properties of photoelastic materials",
];

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".tools/models/all-MiniLM-L6-v2".into());
    let loaded = Instant::now();
    let embedder = LocalEmbedder::load(std::path::Path::new(&dir))?;
    let load_ms = loaded.elapsed().as_secs_f64() * 1000.0;

    embedder.embed(&[QUERIES[0]]).await?;
    let mut latencies = Vec::new();
    for round in 0..25 {
        for query in QUERIES {
            let started = Instant::now();
            embedder.embed(&[query]).await?;
            if round > 0 {
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);

    // Chunks as process cuts them: as many words as fit in 254 word pieces.
    let (counter, limit) = embedder.token_counter().ok_or("the local model has a token counter")?;
    let words: Vec<&str> = QUERIES.iter().flat_map(|q| q.split(' ')).collect();
    let mut chunk = String::new();
    for word in words.iter().cycle() {
        let longer = if chunk.is_empty() { word.to_string() } else { format!("{chunk} {word}") };
        // Room for the "{i} " prefix that keeps the 64 chunks distinct.
        if counter.count(&longer) > limit - 2 {
            break;
        }
        chunk = longer;
    }
    let chunks: Vec<String> = (0..64).map(|i| format!("{i} {chunk}")).collect();
    let texts: Vec<&str> = chunks.iter().map(|c| c.as_str()).collect();
    embed_all(&embedder, &texts[..16]).await?;
    let started = Instant::now();
    embed_all(&embedder, &texts).await?;
    let seconds = started.elapsed().as_secs_f64();

    println!(
        "{}",
        serde_json::json!({
            "model_load_ms": load_ms,
            "query_p50_ms": quantile(&latencies, 0.5),
            "query_p99_ms": quantile(&latencies, 0.99),
            "chunk_word_pieces": counter.count(&chunks[0]),
            "chunks_per_second": texts.len() as f64 / seconds,
        })
    );
    Ok(())
}
