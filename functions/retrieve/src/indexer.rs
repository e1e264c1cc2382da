//! The indexer: fed by SQS from the bus rule on `DocumentProcessed` and `DocumentDeleted`,
//! it upserts a document version's chunks into the index, or removes a document's.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::DocumentDeleted;
use seams_contracts::process::DocumentProcessed;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::from_value;
use seams_platform::sqs_batch::{parse_body, process_batch};
use seams_platform::ServiceError;
use serde_json::Value;

use crate::Backend;

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: seams_platform::aws::AwsSettings,
    pub backend: Backend,
    /// Process's bucket: processed records are read from it and from nowhere else.
    pub records_bucket: String,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: seams_platform::aws::AwsSettings::from_env(&env),
            backend: Backend::from_env(&env),
            records_bucket: env.required("SEAMS_RECORDS_BUCKET"),
        };
        env.finish().map(|()| config)
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
    pub config: Config,
}

impl Indexer {
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        // One at a time: index writes are serialised (reserved concurrency 1 when deployed).
        process_batch(event, 1, |message| async move {
            let request = parse_message(&message)?;
            Err(ServiceError::not_implemented(format!("the indexer does not handle {} yet", request.name())))
        })
        .await
    }
}
