//! The benches' synthetic corpus: documents of 100 chunks of 60 Zipf-distributed words, with
//! 384-dimension hashing vectors and a `category` matching 10% of them.

use chrono::Utc;
use retrieve::index::{IndexedChunk, IndexedDocument};
use seams_contracts::retrieve::Citation;
use seams_embeddings::hashing::HashingEmbedder;
use seams_embeddings::Embedder;
use serde_json::{Map, Value};

pub const CHUNKS_PER_DOCUMENT: usize = 100;

/// A small deterministic generator (xorshift), so every run indexes the same corpus.
pub struct Words(pub u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A word from a 5,000-word vocabulary, rank r with probability ~ 1/r.
    fn word(&mut self) -> String {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        let rank = (5000f64.powf(u)) as u64;
        format!("w{rank}")
    }

    pub fn text(&mut self, words: usize) -> String {
        (0..words).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

pub fn corpus(chunks: usize, embedder: &HashingEmbedder) -> Vec<IndexedDocument> {
    let mut words = Words(0x5EA3_5EED);
    (0..chunks.div_ceil(CHUNKS_PER_DOCUMENT))
        .map(|d| {
            let document_id = format!("doc{d:06}");
            let mut metadata = Map::new();
            metadata.insert("category".into(), Value::from(if d % 10 == 0 { "policy" } else { "notes" }));
            metadata.insert("year".into(), Value::from(2015 + (d % 11) as i64));
            let chunks = (0..CHUNKS_PER_DOCUMENT.min(chunks - d * CHUNKS_PER_DOCUMENT))
                .map(|ordinal| {
                    let text = words.text(60);
                    let embedding = embedder.vector(&text).unwrap_or_default();
                    IndexedChunk {
                        chunk_id: format!("{document_id}:1:{ordinal}"),
                        ordinal: ordinal as u32,
                        text,
                        citation: Citation { source_uri: None, title: None, heading_path: Vec::new(), page: None },
                        metadata: metadata.clone(),
                        embedding,
                        parent: None,
                    }
                })
                .collect();
            IndexedDocument {
                document_id,
                version: 1,
                processed_at: Utc::now(),
                embedding: embedder.model().clone(),
                chunks,
            }
        })
        .collect()
}
