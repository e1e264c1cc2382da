//! The ingest service: the front door of the pipeline. It accepts documents from the HTTP
//! API, from uploads to its bucket and from upstream `DocumentPublished` events, stores each
//! distinct version once in its own bucket, and hands it to processing through the queue.
//! It knows nothing of what happens downstream.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::{
    DocumentDeleted, DocumentPublished, IngestBatchRequest, IngestDocumentRequest, UploadRequest,
};
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::event_bus::{EventBridgeBus, EventBus};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::queue::{Queue, SqsQueue};
use seams_platform::trigger::Trigger;
use seams_platform::{http, ServiceError};
use serde_json::Value;

/// Checked once at init.
#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    pub raw_bucket: String,
    pub process_queue_url: String,
    pub event_bus_name: String,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            raw_bucket: env.required("SEAMS_RAW_BUCKET"),
            process_queue_url: env.required("SEAMS_PROCESS_QUEUE_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
        };
        env.finish().map(|()| config)
    }
}

/// What ingest was asked to do, whichever trigger asked.
#[derive(Debug, Clone)]
pub enum Request {
    Document(IngestDocumentRequest),
    Batch(IngestBatchRequest),
    Upload(UploadRequest),
    Status {
        document_id: String,
    },
    Delete {
        document_id: String,
    },
    /// Files PUT to the upload prefix of the raw bucket.
    Uploaded(S3Event),
    Published(Box<DocumentPublished>),
    DeleteRequested(DocumentDeleted),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Document(_) => "post-documents",
            Request::Batch(_) => "post-documents-batch",
            Request::Upload(_) => "post-uploads",
            Request::Status { .. } => "get-document",
            Request::Delete { .. } => "delete-document",
            Request::Uploaded(_) => "object-created",
            Request::Published(_) => "document-published",
            Request::DeleteRequested(_) => "document-deleted",
        }
    }
}

/// The service and the adapters it writes through.
pub struct Service {
    pub raw: Arc<dyn ObjectStore>,
    pub process_queue: Arc<dyn Queue>,
    pub bus: Arc<dyn EventBus>,
}

impl Service {
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            raw: Arc::new(S3ObjectStore::new(config.aws.s3(sdk), &config.raw_bucket)),
            process_queue: Arc::new(SqsQueue::new(
                seams_platform::aws::sqs(sdk),
                &config.process_queue_url,
            )),
            bus: Arc::new(EventBridgeBus::new(
                seams_platform::aws::eventbridge(sdk),
                &config.event_bus_name,
            )),
        }
    }
}

fn document_published(event: EventBridgeEvent<Value>) -> Result<Request, ServiceError> {
    match event.detail_type.as_str() {
        DocumentPublished::DETAIL_TYPE => {
            Ok(Request::Published(Box::new(from_value(event.detail)?)))
        }
        DocumentDeleted::DETAIL_TYPE => Ok(Request::DeleteRequested(from_value(event.detail)?)),
        other => Err(ServiceError::invalid_input(
            "detail-type",
            format!("ingest does not handle {other} events"),
        )),
    }
}

#[async_trait]
impl Function for Service {
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        let route = http::route_key(request);
        Ok(match route.as_str() {
            "POST /documents" => Request::Document(parse_json(&http::body_bytes(request)?)?),
            "POST /documents:batch" => Request::Batch(parse_json(&http::body_bytes(request)?)?),
            "POST /documents/uploads" => Request::Upload(parse_json(&http::body_bytes(request)?)?),
            "GET /documents/{id}" => Request::Status {
                document_id: http::path_parameter(request, "id")?,
            },
            "DELETE /documents/{id}" => Request::Delete {
                document_id: http::path_parameter(request, "id")?,
            },
            other => {
                return Err(ServiceError::not_found(format!(
                    "ingest has no route {other}"
                )))
            }
        })
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::S3(event) => Ok(Request::Uploaded(event)),
            Trigger::EventBridge(event) => document_published(*event),
            _ => Err(ServiceError::invalid_input(
                "event",
                "ingest is triggered by HTTP, S3 or EventBridge events",
            )),
        }
    }

    async fn serve(&self, request: Request) -> Result<Reply, ServiceError> {
        Err(ServiceError::not_implemented(format!(
            "ingest does not handle {} yet",
            request.name()
        )))
    }
}
