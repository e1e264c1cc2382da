//! Process's processed record (read by retrieve's indexer) and its `DocumentProcessed` event.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Attributes, CorrelationId, ObjectRef, V1};

/// The embedding model that made a vector: it travels with every vector so an index can
/// refuse vectors from another model or of another size.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct EmbeddingModel {
    pub model: String,
    pub dims: u32,
}

/// First line of a processed record (JSON Lines): the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordHeader {
    #[serde(default)]
    pub schema_version: V1,
    pub document_id: String,
    pub version: u32,
    pub fingerprint: String,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub char_count: u64,
    pub token_count: u64,
    pub chunk_count: u32,
    pub embedding: EmbeddingModel,
    #[serde(default)]
    pub attributes: Attributes,
    pub ingested_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
}

/// Every following line of a processed record: one chunk with its embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChunkRecord {
    /// `{document_id}:{version}:{ordinal}`: deterministic, so reprocessing overwrites.
    pub chunk_id: String,
    pub ordinal: u32,
    pub text: String,
    #[serde(default)]
    pub heading_path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Character offsets into the cleaned document text.
    pub char_start: u64,
    pub char_end: u64,
    pub token_count: u32,
    /// The parent chunk that holds this one (hierarchical chunking): what retrieve returns
    /// when this chunk matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentChunk>,
    pub embedding: Vec<f32>,
}

/// A parent chunk: not embedded or searched itself, returned in place of its children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParentChunk {
    /// `{document_id}:{version}:p{ordinal}`.
    pub chunk_id: String,
    pub text: String,
}

/// Event `DocumentProcessed` on the seams bus; retrieve's indexer consumes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentProcessed {
    #[serde(default)]
    pub schema_version: V1,
    pub correlation_id: CorrelationId,
    pub document_id: String,
    pub version: u32,
    pub fingerprint: String,
    pub record: ObjectRef,
    pub chunk_count: u32,
    pub token_count: u64,
    pub embedding: EmbeddingModel,
}

/// A processed record as JSON Lines: the header, then one line per chunk.
pub fn to_json_lines(header: &RecordHeader, chunks: &[ChunkRecord]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(header)?;
    out.push(b'\n');
    for chunk in chunks {
        serde_json::to_writer(&mut out, chunk)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Why a processed record could not be read, and on which line (1-based).
#[derive(Debug, thiserror::Error)]
#[error("processed record line {line}: {source}")]
pub struct RecordLineError {
    pub line: usize,
    pub source: serde_json::Error,
}

/// Reads what [`to_json_lines`] wrote. Blank lines are skipped.
pub fn from_json_lines(body: &[u8]) -> Result<(RecordHeader, Vec<ChunkRecord>), RecordLineError> {
    let mut lines = body.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    let parse_error = |line: usize, source| RecordLineError { line: line + 1, source };
    let (first, header) = lines.next().unwrap_or((0, b"".as_slice()));
    let header: RecordHeader = serde_json::from_slice(header).map_err(|e| parse_error(first, e))?;
    let chunks =
        lines.map(|(n, line)| serde_json::from_slice(line).map_err(|e| parse_error(n, e))).collect::<Result<_, _>>()?;
    Ok((header, chunks))
}
