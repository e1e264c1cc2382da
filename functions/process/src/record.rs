//! The processed record: JSON Lines, the document header first, then one line per chunk
//! with its embedding. Written once per document version at a deterministic key.

use seams_contracts::process::{ChunkRecord, RecordHeader};

pub fn record_key(document_id: &str, version: u32) -> String {
    format!("records/{document_id}/{version:010}.jsonl")
}

pub fn chunk_id(document_id: &str, version: u32, ordinal: u32) -> String {
    format!("{document_id}:{version}:{ordinal}")
}

pub fn to_json_lines(header: &RecordHeader, chunks: &[ChunkRecord]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(header)?;
    out.push(b'\n');
    for chunk in chunks {
        serde_json::to_writer(&mut out, chunk)?;
        out.push(b'\n');
    }
    Ok(out)
}
