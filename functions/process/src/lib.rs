//! The process service: consumes ingest's claim checks from its queue and turns each
//! document version into a processed record (chunks, metadata, embeddings) in its own
//! bucket, then announces it with `DocumentProcessed`. One bad document fails only its own
//! message.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use seams_contracts::ingest::ProcessDocument;
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::event_bus::{EventBridgeBus, EventBus};
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::sqs_batch::{parse_body, process_batch};
use seams_platform::ServiceError;

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    /// Ingest's bucket, read through claim checks (read-only).
    pub raw_bucket: String,
    pub records_bucket: String,
    pub event_bus_name: String,
    /// Records of one SQS batch processed at once.
    pub batch_concurrency: usize,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            raw_bucket: env.required("SEAMS_RAW_BUCKET"),
            records_bucket: env.required("SEAMS_RECORDS_BUCKET"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            batch_concurrency: env.parse_or("SEAMS_BATCH_CONCURRENCY", 4),
        };
        env.finish().map(|()| config)
    }
}

/// The claim check one record of the processing queue carries.
pub fn parse_message(message: &SqsMessage) -> Result<ProcessDocument, ServiceError> {
    parse_body(message)
}

pub struct Service {
    pub raw: Arc<dyn ObjectStore>,
    pub records: Arc<dyn ObjectStore>,
    pub bus: Arc<dyn EventBus>,
    pub batch_concurrency: usize,
}

impl Service {
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            raw: Arc::new(S3ObjectStore::new(config.aws.s3(sdk), &config.raw_bucket)),
            records: Arc::new(S3ObjectStore::new(config.aws.s3(sdk), &config.records_bucket)),
            bus: Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
            batch_concurrency: config.batch_concurrency,
        }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch(event, self.batch_concurrency, |message| async move { self.process(&message).await }).await
    }

    async fn process(&self, message: &SqsMessage) -> Result<(), ServiceError> {
        let document = parse_message(message)?;
        Err(ServiceError::not_implemented(format!("process cannot process {} yet", document.document_id)))
    }
}
