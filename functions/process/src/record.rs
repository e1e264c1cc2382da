//! The processed record: JSON Lines, the document header first, then one line per chunk
//! with its embedding. Written once per document version at a deterministic key.

pub use seams_contracts::process::{from_json_lines, to_json_lines};

pub fn record_key(document_id: &str, version: u32) -> String {
    format!("records/{document_id}/{version:010}.jsonl")
}

pub fn chunk_id(document_id: &str, version: u32, ordinal: u32) -> String {
    format!("{document_id}:{version}:{ordinal}")
}

/// A parent chunk's id (hierarchical chunking): apart from its children's ids.
pub fn parent_id(document_id: &str, version: u32, ordinal: u32) -> String {
    format!("{document_id}:{version}:p{ordinal}")
}
