//! The `SearchIndex` seam: what both backends (embedded SQLite, PostgreSQL + pgvector)
//! offer, and the documents and queries that cross it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use seams_contracts::process::{ChunkRecord, EmbeddingModel, ParentChunk, RecordHeader};
use seams_contracts::retrieve::{Citation, Ranks, SearchMode};
use seams_contracts::{AttributeValue, ErrorName};
use serde_json::{Map, Value};

use crate::filter::Predicate;
use crate::fuse::Fusion;

/// One chunk as the index stores it (and a segment logs it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexedChunk {
    pub chunk_id: String,
    pub ordinal: u32,
    pub text: String,
    pub citation: Citation,
    /// What filters match: the document's attributes and the chunk's own fields.
    pub metadata: Map<String, Value>,
    #[serde(with = "crate::manifest::vector_base64")]
    pub embedding: Vec<f32>,
    /// The parent chunk that holds it (hierarchical chunking): stored once per parent,
    /// returned in place of its children.
    pub parent: Option<ParentChunk>,
}

/// One version of a document, ready to replace whatever the index holds for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexedDocument {
    pub document_id: String,
    pub version: u32,
    pub processed_at: DateTime<Utc>,
    pub embedding: EmbeddingModel,
    pub chunks: Vec<IndexedChunk>,
}

impl IndexedDocument {
    /// From a processed record. Metadata is the caller's attributes plus the fields every
    /// chunk has (which win over attributes of the same name): `document_id`,
    /// `content_type`, `language`, `title`, `page`, `heading_path`, `parent_chunk_id`.
    pub fn from_record(header: &RecordHeader, chunks: &[ChunkRecord]) -> Self {
        let mut document = Map::new();
        for (key, value) in &header.attributes {
            document.insert(key.clone(), attribute_json(value));
        }
        document.insert("document_id".into(), header.document_id.clone().into());
        document.insert("content_type".into(), header.content_type.clone().into());
        if let Some(language) = &header.language {
            document.insert("language".into(), language.clone().into());
        }
        if let Some(title) = &header.title {
            document.insert("title".into(), title.clone().into());
        }
        let chunks = chunks
            .iter()
            .map(|chunk| {
                let mut metadata = document.clone();
                metadata.insert("heading_path".into(), chunk.heading_path.clone().into());
                if let Some(page) = chunk.page {
                    metadata.insert("page".into(), page.into());
                }
                if let Some(parent) = &chunk.parent {
                    metadata.insert("parent_chunk_id".into(), parent.chunk_id.clone().into());
                }
                IndexedChunk {
                    chunk_id: chunk.chunk_id.clone(),
                    ordinal: chunk.ordinal,
                    text: chunk.text.clone(),
                    citation: Citation {
                        source_uri: header.source_uri.clone(),
                        title: header.title.clone(),
                        heading_path: chunk.heading_path.clone(),
                        page: chunk.page,
                    },
                    metadata,
                    embedding: chunk.embedding.clone(),
                    parent: chunk.parent.clone(),
                }
            })
            .collect();
        Self {
            document_id: header.document_id.clone(),
            version: header.version,
            processed_at: header.processed_at,
            embedding: header.embedding.clone(),
            chunks,
        }
    }
}

fn attribute_json(value: &AttributeValue) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// The version replaced whatever the index held for the document.
    Replaced,
    /// The index already holds a newer version, or the document was deleted after this
    /// version was processed: nothing changed.
    Stale,
}

/// A search, checked and embedded: what the service hands a backend.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub text: String,
    /// The query's embedding, normalised; present for vector and hybrid searches.
    pub vector: Option<Vec<f32>>,
    pub mode: SearchMode,
    pub top_k: usize,
    pub filter: Option<Predicate>,
    pub fusion: Fusion,
}

/// One result: the chunk with its document, score and ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub document_id: String,
    pub version: u32,
    pub chunk: IndexedChunk,
    /// Cosine similarity (vector), the backend's keyword relevance (keyword: BM25 for the
    /// embedded index and PostgreSQL alike), or the fused RRF score (hybrid).
    pub score: f64,
    pub ranks: Ranks,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    /// The record was made by another embedding model than the index's.
    #[error("the index holds {index} vectors ({index_dims} dims); this record has {record} ({record_dims} dims)", index = .index.model, index_dims = .index.dims, record = .record.model, record_dims = .record.dims)]
    ModelMismatch { index: EmbeddingModel, record: EmbeddingModel },
    #[error("invalid index input: {0}")]
    Invalid(String),
    /// Worth retrying: the database or the index's bucket did not answer, or a write lost a race.
    #[error("index unavailable: {0}")]
    Unavailable(String),
}

impl IndexError {
    pub fn error_name(&self) -> ErrorName {
        match self {
            IndexError::ModelMismatch { .. } | IndexError::Invalid(_) => ErrorName::InvalidInput,
            IndexError::Unavailable(_) => ErrorName::Transient,
        }
    }
}

impl From<IndexError> for seams_platform::ServiceError {
    fn from(error: IndexError) -> Self {
        Self::new(error.error_name(), error.to_string())
    }
}

/// A search index. Writes are atomic per document; queries see a document's old chunks or
/// its new ones, never a mix.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// The model whose vectors the index holds.
    fn model(&self) -> &EmbeddingModel;

    /// Replaces the document's chunks with this version's. Idempotent; older versions than
    /// the one held are ignored.
    async fn upsert(&self, document: &IndexedDocument) -> Result<Upserted, IndexError>;

    /// Removes the document's chunks and remembers when, so a late older version does not
    /// bring them back. Idempotent.
    async fn delete(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError>;

    /// Up to `top_k` hits, best first, among chunks that pass the filter.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError>;
}

/// Refuses a document made by another model than the index's.
pub fn check_model(index: &EmbeddingModel, document: &IndexedDocument) -> Result<(), IndexError> {
    let wrong_size = document.chunks.iter().any(|c| c.embedding.len() != index.dims as usize);
    if &document.embedding != index || wrong_size {
        return Err(IndexError::ModelMismatch { index: index.clone(), record: document.embedding.clone() });
    }
    Ok(())
}

/// Scales a vector to unit length, so cosine similarity is a dot product.
pub fn normalised(vector: &[f32]) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter().map(|x| x / norm).collect()
    } else {
        vector.to_vec()
    }
}
