//! What ingest is asked, whichever trigger asked, and how each request is answered.

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::{
    DocumentDeleted, DocumentPublished, IngestBatchRequest, IngestDocumentRequest, UploadRequest,
};
use seams_contracts::CorrelationId;
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::tenancy::{Caller, Tenant};
use seams_platform::trigger::Trigger;
use seams_platform::{http, routes, ServiceError};
use serde_json::Value;

use crate::Service;

/// What ingest was asked to do, whichever trigger asked.
#[derive(Debug, Clone)]
pub enum Request {
    /// An HTTP API route, with its caller (whose tenant it acts for).
    Http(HttpRequest, Caller),
    /// Files PUT to the upload prefix of the raw bucket.
    Uploaded(S3Event),
    Published(Box<DocumentPublished>),
    DeleteRequested(DocumentDeleted),
}

#[derive(Debug, Clone)]
pub enum HttpRequest {
    Document(Box<IngestDocumentRequest>),
    Batch(IngestBatchRequest),
    Upload(UploadRequest),
    List { after: Option<String>, limit: Option<String> },
    Status { document_id: String },
    Delete { document_id: String },
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Http(HttpRequest::Document(_), _) => "post-documents",
            Request::Http(HttpRequest::Batch(_), _) => "post-documents-batch",
            Request::Http(HttpRequest::Upload(_), _) => "post-uploads",
            Request::Http(HttpRequest::List { .. }, _) => "get-documents",
            Request::Http(HttpRequest::Status { .. }, _) => "get-document",
            Request::Http(HttpRequest::Delete { .. }, _) => "delete-document",
            Request::Uploaded(_) => "object-created",
            Request::Published(_) => "document-published",
            Request::DeleteRequested(_) => "document-deleted",
        }
    }
}

fn document_event(event: EventBridgeEvent<Value>) -> Result<Request, ServiceError> {
    match event.detail_type.as_str() {
        DocumentPublished::DETAIL_TYPE => Ok(Request::Published(Box::new(from_value(event.detail)?))),
        DocumentDeleted::DETAIL_TYPE => Ok(Request::DeleteRequested(from_value(event.detail)?)),
        other => Err(ServiceError::invalid_input("detail-type", format!("ingest does not handle {other} events"))),
    }
}

#[async_trait]
impl Function for Service {
    const SERVICE: &'static str = "ingest";
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        let route = http::route_key(request);
        let asked = match route.as_str() {
            routes::POST_DOCUMENTS => HttpRequest::Document(Box::new(parse_json(&http::body_bytes(request)?)?)),
            routes::POST_DOCUMENTS_BATCH => HttpRequest::Batch(parse_json(&http::body_bytes(request)?)?),
            routes::POST_UPLOADS => HttpRequest::Upload(parse_json(&http::body_bytes(request)?)?),
            routes::GET_DOCUMENTS => HttpRequest::List {
                after: http::query_parameter(request, "after"),
                limit: http::query_parameter(request, "limit"),
            },
            routes::GET_DOCUMENT => HttpRequest::Status { document_id: http::path_parameter(request, "id")? },
            routes::DELETE_DOCUMENT => HttpRequest::Delete { document_id: http::path_parameter(request, "id")? },
            other => return Err(ServiceError::not_found(format!("ingest has no route {other}"))),
        };
        Ok(Request::Http(asked, Caller::of(request)))
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::S3(event) => Ok(Request::Uploaded(event)),
            Trigger::EventBridge(event) => document_event(*event),
            _ => Err(ServiceError::invalid_input("event", "ingest is triggered by HTTP, S3 or EventBridge events")),
        }
    }

    async fn serve(&self, request: Request, correlation: CorrelationId) -> Result<Reply, ServiceError> {
        let correlation = &correlation;
        match request {
            Request::Http(asked, caller) => {
                let tenant = self.settings.tenancy.tenant_of(&caller)?;
                self.serve_http(asked, tenant.as_ref(), correlation).await
            }
            Request::DeleteRequested(event) => {
                let correlation = event.correlation_id.clone().unwrap_or_else(|| correlation.clone());
                let tenant = self.upstream_tenant(event.tenant.as_deref())?;
                let document_id = Service::stored_id(&event.document_id, tenant.as_ref());
                Reply::json(202, &self.delete(&document_id, &correlation).await?)
            }
            Request::Published(event) => Reply::json(202, &self.ingest_published(*event, correlation).await?),
            Request::Uploaded(event) => {
                // Every record is tried; the first failure fails the invocation (Lambda
                // retries it, then sends it to ingest's DLQ). Stored ones answer duplicate.
                let mut responses = Vec::new();
                for record in &event.records {
                    responses.push(self.ingest_upload(record, correlation).await?);
                }
                Reply::json(202, &responses)
            }
        }
    }
}

impl Service {
    /// An HTTP route for `tenant`: what it stores is the tenant's, and it sees nothing else.
    async fn serve_http(
        &self,
        asked: HttpRequest,
        tenant: Option<&Tenant>,
        correlation: &CorrelationId,
    ) -> Result<Reply, ServiceError> {
        match asked {
            HttpRequest::Document(document) => {
                Reply::json(202, &self.ingest_request(*document, tenant, correlation).await?)
            }
            HttpRequest::Batch(batch) => Reply::json(200, &self.ingest_batch(batch, tenant, correlation).await?),
            HttpRequest::Upload(upload) => Reply::json(201, &self.start_upload(upload, tenant).await?),
            HttpRequest::List { after, limit } => {
                Reply::json(200, &self.list(after.as_deref(), limit.as_deref(), tenant).await?)
            }
            HttpRequest::Status { document_id } => {
                Reply::json(200, &self.status(&Service::stored_id(&document_id, tenant)).await?)
            }
            HttpRequest::Delete { document_id } => {
                Reply::json(202, &self.delete(&Service::stored_id(&document_id, tenant), correlation).await?)
            }
        }
    }
}
