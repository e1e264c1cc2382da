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
    pub embedding: Vec<f32>,
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
