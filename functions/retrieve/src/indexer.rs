//! The indexer: fed by SQS from the bus rule on `DocumentProcessed` and `DocumentDeleted`,
//! it upserts a document version's chunks into the index, or removes a document's.

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::DocumentDeleted;
use seams_contracts::process::{from_json_lines, DocumentProcessed};
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::from_value;
use seams_platform::object_store::ObjectStore;
use seams_platform::sqs_batch::{parse_body, process_batch};
use seams_platform::ServiceError;
use serde_json::Value;

use crate::index::{IndexError, IndexedDocument, SearchIndex, Upserted};

#[derive(Debug, Clone)]
pub struct Config {
    /// The index and the embedding model it holds, as the query function reads them.
    pub index: crate::Config,
    /// Process's bucket: processed records are read from it and from nowhere else.
    pub records_bucket: String,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let records_bucket = env.required("SEAMS_RECORDS_BUCKET");
        crate::Config::from_env(env).map(|index| Self { index, records_bucket })
    }
}

/// What one record of the indexer queue asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexerMessage {
    Processed(DocumentProcessed),
    Deleted(DocumentDeleted),
}

impl IndexerMessage {
    pub fn name(&self) -> &'static str {
        match self {
            IndexerMessage::Processed(_) => "document-processed",
            IndexerMessage::Deleted(_) => "document-deleted",
        }
    }
}

/// A record's body is the EventBridge envelope the rule delivered.
pub fn parse_message(message: &SqsMessage) -> Result<IndexerMessage, ServiceError> {
    let envelope: EventBridgeEvent<Value> = parse_body(message)?;
    match envelope.detail_type.as_str() {
        DocumentProcessed::DETAIL_TYPE => Ok(IndexerMessage::Processed(from_value(envelope.detail)?)),
        DocumentDeleted::DETAIL_TYPE => Ok(IndexerMessage::Deleted(from_value(envelope.detail)?)),
        other => Err(ServiceError::invalid_input("detail-type", format!("the indexer does not handle {other} events"))),
    }
}

pub struct Indexer {
    index: Arc<dyn SearchIndex>,
    /// Process's bucket: processed records are read from it and from nowhere else.
    records: Arc<dyn ObjectStore>,
}

impl Indexer {
    pub fn new(index: Arc<dyn SearchIndex>, records: Arc<dyn ObjectStore>) -> Self {
        Self { index, records }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        // One at a time: index writes are serialised (reserved concurrency 1 when deployed).
        let batch =
            process_batch(event, 1, |message| async move { self.apply(parse_message(&message)?).await.map(|_| ()) });
        seams_platform::metrics::scope("retrieve-indexer", batch).await
    }

    /// Applies one message to the index; `Stale` when the index already holds newer.
    pub async fn apply(&self, message: IndexerMessage) -> Result<Upserted, ServiceError> {
        match message {
            IndexerMessage::Processed(event) => {
                if event.record.bucket != self.records.location() {
                    let detail =
                        format!("records are read from {} only, not {}", self.records.location(), event.record.bucket);
                    return Err(ServiceError::invalid_input("record.bucket", detail));
                }
                // Refused before reading the record: its vectors cannot join this index.
                if &event.embedding != self.index.model() {
                    let error =
                        IndexError::ModelMismatch { index: self.index.model().clone(), record: event.embedding };
                    return Err(error.into());
                }
                let object = self.records.get(&event.record.key).await.map_err(ServiceError::from)?;
                let (header, chunks) =
                    from_json_lines(&object.body).map_err(|e| ServiceError::invalid_input("record", e.to_string()))?;
                let document = IndexedDocument::from_record(&header, &chunks);
                let outcome = self.index.upsert(&document).await?;
                tracing::info!(document_id = %header.document_id, version = header.version, chunks = chunks.len(), ?outcome, "indexed");
                seams_platform::metrics::count("ChunksIndexed", chunks.len() as f64, None);
                Ok(outcome)
            }
            IndexerMessage::Deleted(event) => {
                self.index.delete(&event.document_id, event.deleted_at.unwrap_or_else(Utc::now)).await?;
                tracing::info!(document_id = %event.document_id, "removed from the index");
                seams_platform::metrics::count("DocumentsRemoved", 1.0, None);
                Ok(Upserted::Replaced)
            }
        }
    }
}
