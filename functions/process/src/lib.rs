//! The process service: consumes ingest's claim checks from its queue and turns each
//! document version into a processed record (chunks, metadata, embeddings) in its own
//! bucket, then announces it with `DocumentProcessed`. One bad document fails only its own
//! message; SQS retries it and, after `maxReceiveCount`, moves it to the dead-letter queue.

#[cfg(feature = "aws")]
pub mod aws;
pub mod chunk;
pub mod clean;
pub mod corpus;
pub mod extract;
pub mod record;
pub mod strategy;
pub mod tokenizer;

use std::borrow::Cow;
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use chrono::Utc;
use seams_contracts::ingest::ProcessDocument;
use seams_contracts::process::{ChunkRecord, DocumentProcessed, ParentChunk, RecordHeader};
use seams_contracts::{ObjectRef, V1};
use seams_embeddings::config::EmbedderConfig;
use seams_embeddings::{embed_all, Embedder, TokenCounter};
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::event_bus::{EventBus, OutgoingEvent};
use seams_platform::logging::correlation_span;
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_platform::sqs_batch::{parse_body, process_batch};
use seams_platform::ServiceError;
use tracing::Instrument;

/// The tokenizer chunks are sized with unless the embedder has its own.
pub use crate::tokenizer::Cl100k as Tokenizer;

use crate::chunk::{Chunk, ChunkSettings};
use crate::strategy::{Chunking, SemanticSettings};

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    /// Ingest's bucket, read through claim checks (read-only).
    pub raw_bucket: String,
    pub records_bucket: String,
    pub event_bus_name: String,
    pub settings: Settings,
    pub embedder: EmbedderConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The strategy for documents without a `chunking` attribute.
    pub strategy: Chunking,
    /// Chunk size and overlap (of the children, for hierarchical chunking).
    pub chunking: ChunkSettings,
    /// The size of hierarchical chunking's parents.
    pub parent_tokens: usize,
    pub semantic: SemanticSettings,
    /// A document that needs more chunks than this is refused.
    pub max_chunks: usize,
    /// Records of one SQS batch processed at once.
    pub batch_concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            strategy: Chunking::Fixed,
            chunking: ChunkSettings::default(),
            parent_tokens: 1500,
            semantic: SemanticSettings::default(),
            max_chunks: 20_000,
            batch_concurrency: 4,
        }
    }
}

impl Settings {
    /// The tuning variables (`SEAMS_CHUNKING`, `SEAMS_CHUNK_MAX_TOKENS`,
    /// `SEAMS_CHUNK_OVERLAP_PERCENT`, `SEAMS_CHUNK_PARENT_TOKENS`, `SEAMS_SEMANTIC_BUFFER`,
    /// `SEAMS_SEMANTIC_PERCENTILE`, `SEAMS_MAX_CHUNKS`, `SEAMS_BATCH_CONCURRENCY`) over the
    /// defaults; bad values are recorded in `env`.
    pub fn from_env(env: &Env) -> Self {
        let defaults = Settings::default();
        let max_tokens = env.parse_or("SEAMS_CHUNK_MAX_TOKENS", defaults.chunking.max_tokens);
        let overlap_percent = env.parse_or("SEAMS_CHUNK_OVERLAP_PERCENT", 10usize);
        if overlap_percent >= 100 {
            env.invalid("SEAMS_CHUNK_OVERLAP_PERCENT", &overlap_percent.to_string(), "must be below 100".into());
        }
        let percentile = env.parse_or("SEAMS_SEMANTIC_PERCENTILE", defaults.semantic.percentile);
        if percentile > 100 {
            env.invalid("SEAMS_SEMANTIC_PERCENTILE", &percentile.to_string(), "must be 0 to 100".into());
        }
        Settings {
            strategy: env.parse_or("SEAMS_CHUNKING", defaults.strategy),
            chunking: ChunkSettings::new(max_tokens, overlap_percent),
            parent_tokens: env.parse_or("SEAMS_CHUNK_PARENT_TOKENS", defaults.parent_tokens),
            semantic: SemanticSettings {
                buffer: env.parse_or("SEAMS_SEMANTIC_BUFFER", defaults.semantic.buffer),
                percentile,
            },
            max_chunks: env.parse_or("SEAMS_MAX_CHUNKS", defaults.max_chunks),
            batch_concurrency: env.parse_or("SEAMS_BATCH_CONCURRENCY", defaults.batch_concurrency),
        }
    }
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            raw_bucket: env.required("SEAMS_RAW_BUCKET"),
            records_bucket: env.required("SEAMS_RECORDS_BUCKET"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            settings: Settings::from_env(&env),
            embedder: EmbedderConfig::from_env(&env),
        };
        env.finish().map(|()| config)
    }
}

/// A document as clean text and chunks: everything before embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub title: Option<String>,
    pub text: String,
    pub chunks: Vec<Chunk>,
    /// The parents the chunks point at (hierarchical chunking); empty otherwise.
    pub parents: Vec<Chunk>,
}

/// A document's text after extraction and cleaning, before chunking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub title: Option<String>,
    pub text: String,
    /// Where each page starts (characters), for paged documents.
    page_starts: Option<Vec<u64>>,
}

/// Extract and clean. Pure. Refuses (as `InvalidInput`) what cannot be extracted and what
/// has no text.
pub fn clean_document(content_type: &str, bytes: &[u8]) -> Result<Cleaned, ServiceError> {
    let mut extracted = extract::extract(content_type, bytes)
        .map_err(|e| ServiceError::invalid_input("content_type", e.to_string()))?;
    for text in extracted.pages.iter_mut().chain(extracted.title.as_mut()) {
        if let Cow::Owned(cleaned) = clean::without_controls(text) {
            *text = cleaned;
        }
    }
    let pages = if extracted.paged { clean::strip_page_furniture(&extracted.pages) } else { extracted.pages };
    let (text, page_starts) = clean::clean_pages(&pages);
    if text.trim().is_empty() {
        return Err(ServiceError::invalid_input("raw", "the document has no text after cleaning"));
    }
    // A paged document's first line is its title once running headers are gone.
    let title = if extracted.paged { extract::first_line(&text) } else { extracted.title };
    Ok(Cleaned { title, text, page_starts: extracted.paged.then_some(page_starts) })
}

/// How to chunk one cleaned document: the strategy with what it needs from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Fixed,
    Hierarchical,
    /// Semantic chunking's cuts, from the embedder ([`strategy::semantic_walls`]).
    Semantic {
        walls: Vec<usize>,
    },
    /// One chunk, refused above `limit` tokens when the embedder has a limit.
    Whole {
        limit: Option<usize>,
    },
}

impl Cleaned {
    /// Chunks the text by `plan`. Refuses (as `InvalidInput`, naming the limit) a document
    /// that needs more than `max_chunks` chunks or, whole, more tokens than the embedder reads.
    pub fn split(self, plan: &Plan, settings: &Settings, tokenizer: &dyn TokenCounter) -> Result<Split, ServiceError> {
        let mut parents = Vec::new();
        let mut chunks = match plan {
            Plan::Fixed => chunk::chunk(&self.text, settings.chunking, tokenizer),
            Plan::Semantic { walls } => chunk::chunk_between(
                &self.text,
                ChunkSettings { overlap_tokens: 0, ..settings.chunking },
                tokenizer,
                walls,
            ),
            Plan::Hierarchical => {
                let children;
                (parents, children) =
                    chunk::chunk_hierarchy(&self.text, settings.parent_tokens, settings.chunking, tokenizer);
                children
            }
            Plan::Whole { limit } => {
                let whole = chunk::whole(&self.text, tokenizer);
                if let (Some(chunk), Some(limit)) = (&whole, limit) {
                    if chunk.token_count as usize > *limit {
                        let detail = format!(
                            "the document is {} tokens; chunking \"none\" takes at most the embedder's limit ({limit})",
                            chunk.token_count
                        );
                        return Err(ServiceError::invalid_input("raw", detail));
                    }
                }
                whole.into_iter().collect()
            }
        };
        if chunks.len() > settings.max_chunks {
            let detail = format!("{} chunks exceed SEAMS_MAX_CHUNKS ({})", chunks.len(), settings.max_chunks);
            return Err(ServiceError::invalid_input("raw", detail));
        }
        if let Some(page_starts) = &self.page_starts {
            for chunk in chunks.iter_mut().chain(parents.iter_mut()) {
                chunk.page = clean::page_at(page_starts, chunk.char_start);
            }
        }
        Ok(Split { title: self.title, text: self.text, chunks, parents })
    }
}

/// Extract, clean and chunk with `settings.strategy` (semantic chunking, which needs the
/// embedder, falls back to fixed here). Pure: the service's pipeline up to embedding, and
/// what the benchmark measures.
pub fn split(
    content_type: &str,
    bytes: &[u8],
    settings: &Settings,
    tokenizer: &dyn TokenCounter,
) -> Result<Split, ServiceError> {
    let plan = match settings.strategy {
        Chunking::Fixed | Chunking::Semantic => Plan::Fixed,
        Chunking::Hierarchical => Plan::Hierarchical,
        Chunking::None => Plan::Whole { limit: None },
    };
    clean_document(content_type, bytes)?.split(&plan, settings, tokenizer)
}

/// The claim check one record of the processing queue carries.
pub fn parse_message(message: &SqsMessage) -> Result<ProcessDocument, ServiceError> {
    parse_body(message)
}

pub struct Service {
    raw: Arc<dyn ObjectStore>,
    records: Arc<dyn ObjectStore>,
    bus: Arc<dyn EventBus>,
    embedder: Arc<dyn Embedder>,
    settings: Settings,
}

impl Service {
    pub fn new(
        raw: Arc<dyn ObjectStore>,
        records: Arc<dyn ObjectStore>,
        bus: Arc<dyn EventBus>,
        embedder: Arc<dyn Embedder>,
        settings: Settings,
    ) -> Self {
        Self { raw, records, bus, embedder, settings }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let batch =
            process_batch(
                event,
                self.settings.batch_concurrency,
                |message| async move { self.process(&message).await },
            );
        seams_platform::metrics::scope("process", batch).await
    }

    async fn process(&self, message: &SqsMessage) -> Result<(), ServiceError> {
        let claim = parse_message(message)?;
        let span = correlation_span(&claim.correlation_id);
        self.process_document(&claim).instrument(span).await
    }

    /// The document cut by its strategy, sized by the tokenizer of the embedder that reads
    /// the chunks: its own (and within its limit) when it has one, cl100k otherwise. So no
    /// chunk is cut by the model.
    async fn split(&self, claim: &ProcessDocument, bytes: &[u8]) -> Result<Split, ServiceError> {
        let chunking = Chunking::for_document(self.settings.strategy, &claim.attributes)?;
        let cleaned = clean_document(&claim.content_type, bytes)?;
        let mut settings = self.settings;
        let (counter, limit): (Arc<dyn TokenCounter>, Option<usize>) = match self.embedder.token_counter() {
            Some((counter, limit)) => {
                let max_tokens = settings.chunking.max_tokens.min(limit);
                let overlap_percent = settings.chunking.overlap_tokens * 100 / settings.chunking.max_tokens.max(1);
                settings.chunking = ChunkSettings::new(max_tokens, overlap_percent);
                (counter, Some(limit))
            }
            None => (Arc::new(Tokenizer), None),
        };
        let plan = match chunking {
            Chunking::Fixed => Plan::Fixed,
            Chunking::Hierarchical => Plan::Hierarchical,
            Chunking::Semantic => Plan::Semantic { walls: self.semantic_walls(&cleaned.text).await? },
            Chunking::None => Plan::Whole { limit },
        };
        cleaned.split(&plan, &settings, counter.as_ref())
    }

    /// Semantic chunking's cuts: each sentence is embedded with its neighbours (the buffer)
    /// by the active embedder, and the text is cut where neighbouring groups are farthest apart.
    async fn semantic_walls(&self, text: &str) -> Result<Vec<usize>, ServiceError> {
        let sentences = chunk::sentences(text);
        if sentences.len() < 3 {
            return Ok(Vec::new());
        }
        let mut groups = strategy::sentence_groups(text, &sentences, self.settings.semantic.buffer);
        // A model with a reading limit sees the start of a group too long for it: enough to
        // tell where the topic goes, and no document fails for a long sentence.
        if let Some((counter, limit)) = self.embedder.token_counter() {
            groups.iter_mut().for_each(|group| *group = strategy::prefix_within(group, limit, counter.as_ref()));
        }
        let vectors = embed_all(self.embedder.as_ref(), &groups).await?;
        Ok(strategy::semantic_walls(&sentences, &vectors, self.settings.semantic.percentile))
    }

    /// Claim check → processed record → `DocumentProcessed`. Safe to repeat: the record's
    /// key is deterministic and its first write stands.
    pub async fn process_document(&self, claim: &ProcessDocument) -> Result<(), ServiceError> {
        let bytes = self.load_bytes(claim).await?;
        let Split { title, text: cleaned, chunks, parents } = self.split(claim, &bytes).await?;
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        let vectors = embed_all(self.embedder.as_ref(), &texts).await?;

        let model = self.embedder.model().clone();
        let token_count: u64 = chunks.iter().map(|c| u64::from(c.token_count)).sum();
        let header = RecordHeader {
            schema_version: V1,
            document_id: claim.document_id.clone(),
            version: claim.version,
            fingerprint: claim.fingerprint.clone(),
            content_type: claim.content_type.clone(),
            source_uri: claim.source_uri.clone(),
            title,
            // Only a confident guess: short texts are easily mistaken.
            language: whatlang::detect(&cleaned)
                .filter(whatlang::Info::is_reliable)
                .map(|info| info.lang().code().to_owned()),
            char_count: cleaned.chars().count() as u64,
            token_count,
            chunk_count: chunks.len() as u32,
            embedding: model.clone(),
            attributes: claim.attributes.clone(),
            ingested_at: claim.ingested_at,
            processed_at: Utc::now(),
        };
        let chunk_records: Vec<ChunkRecord> = chunks
            .into_iter()
            .zip(vectors)
            .map(|(chunk, embedding)| ChunkRecord {
                chunk_id: record::chunk_id(&claim.document_id, claim.version, chunk.ordinal),
                ordinal: chunk.ordinal,
                text: chunk.text,
                heading_path: chunk.heading_path,
                page: chunk.page,
                char_start: chunk.char_start,
                char_end: chunk.char_end,
                token_count: chunk.token_count,
                parent: chunk.parent.and_then(|p| parents.get(p as usize)).map(|parent| ParentChunk {
                    chunk_id: record::parent_id(&claim.document_id, claim.version, parent.ordinal),
                    text: parent.text.clone(),
                }),
                embedding,
            })
            .collect();
        let body = record::to_json_lines(&header, &chunk_records)
            .map_err(|e| ServiceError::transient(format!("could not encode the record: {e}")))?;
        let key = record::record_key(&claim.document_id, claim.version);
        let options = PutOptions { content_type: Some("application/x-ndjson".into()), ..PutOptions::if_absent() };
        match self.records.put(&key, Bytes::from(body), options).await {
            // Processed before (a redelivery): the first record stands; announce it again.
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let event = DocumentProcessed {
            schema_version: V1,
            correlation_id: claim.correlation_id.clone(),
            document_id: claim.document_id.clone(),
            version: claim.version,
            fingerprint: claim.fingerprint.clone(),
            record: ObjectRef { bucket: self.records.location().to_owned(), key },
            chunk_count: header.chunk_count,
            token_count,
            embedding: model,
        };
        self.bus.publish(vec![OutgoingEvent::from_detail(&event)?]).await?;
        tracing::info!(document_id = %claim.document_id, version = claim.version, chunks = header.chunk_count, "document processed");
        use seams_platform::metrics::{count, record, Unit};
        count("DocumentsProcessed", 1.0, None);
        count("Chunks", f64::from(header.chunk_count), None);
        count("Tokens", token_count as f64, None);
        record("DocumentBytes", bytes.len() as f64, Unit::Bytes, None);
        Ok(())
    }

    /// The document: inline in the claim check when small text, else from ingest's bucket.
    async fn load_bytes(&self, claim: &ProcessDocument) -> Result<Vec<u8>, ServiceError> {
        if let Some(text) = &claim.inline_content {
            return Ok(text.clone().into_bytes());
        }
        if claim.raw.bucket != self.raw.location() {
            let detail = format!("{} is not ingest's bucket", claim.raw.bucket);
            return Err(ServiceError::invalid_input("raw.bucket", detail));
        }
        let object = match self.raw.get(&claim.raw.key).await {
            Err(StoreError::NotFound { key }) => {
                return Err(ServiceError::invalid_input("raw.key", format!("{key} does not exist")));
            }
            other => other?,
        };
        Ok(object.body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use seams_contracts::error::ErrorName;

    use super::*;

    /// A PDF's glyphs without a character came out as NUL, which PostgreSQL refuses: the
    /// document failed in the indexer on every retry.
    #[test]
    fn extracted_text_and_titles_hold_no_control_characters() {
        let controls = |text: &str| text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
        // The corpus PDF with its header's glyphs partly NUL and U+0001, the file's length kept.
        let pdf = String::from_utf8(corpus::pdf(100)).unwrap();
        let pdf = pdf.replacen("(Company handbook) Tj", "(C\\000y han\\001ok) Tj", 1);
        let json = r#"{"title": "Re\u0000funds\u0007", "days": "14\u0000"}"#;
        for (content_type, bytes) in [("application/pdf", pdf.as_bytes()), ("application/json", json.as_bytes())] {
            let extracted = extract::extract(content_type, bytes).unwrap();
            assert!(extracted.pages.iter().any(|page| controls(page)), "{content_type}: the extractor makes them");
            let cleaned = clean_document(content_type, bytes).unwrap();
            assert!(!controls(&cleaned.text), "{content_type}: {:?}", cleaned.text);
            assert!(!cleaned.title.as_deref().is_some_and(controls), "{content_type}: {:?}", cleaned.title);
        }
        assert_eq!(clean_document("application/json", json.as_bytes()).unwrap().title.as_deref(), Some("days: 14"));
    }

    #[test]
    fn a_document_over_the_chunk_limit_is_refused_naming_the_limit() {
        let settings = Settings { chunking: ChunkSettings::new(20, 0), max_chunks: 3, ..Settings::default() };
        let text = "Receipts are kept. ".repeat(40);
        let error = split("text/plain", text.as_bytes(), &settings, &Tokenizer).unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert!(error.detail.ends_with("exceed SEAMS_MAX_CHUNKS (3)"), "{error}");
        let within = Settings { max_chunks: 1000, ..settings };
        assert!(split("text/plain", text.as_bytes(), &within, &Tokenizer).is_ok());
    }
}
