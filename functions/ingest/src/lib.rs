//! The ingest service: the front door of the pipeline. It accepts documents from the HTTP
//! API, from presigned uploads to its bucket and from upstream `DocumentPublished` events,
//! refuses what is bad with a clear reason, makes text clean UTF-8, stores each distinct
//! document version once, and hands it to processing through the queue (a claim check).
//! It knows nothing of what happens downstream.

pub mod locate;
pub mod normalise;
pub mod store;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::{S3Event, S3EventRecord};
use bytes::Bytes;
use chrono::Utc;
use futures::stream::{self, StreamExt};
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::{
    BatchItemResult, DocumentDeleted, DocumentIngested, DocumentPublished, DocumentStatus, IngestBatchRequest,
    IngestBatchResponse, IngestDocumentRequest, IngestResponse, IngestStatus, ProcessDocument, StoredVersion,
    UploadRequest, UploadTicket,
};
use seams_contracts::{Attributes, CorrelationId, ObjectRef, V1};
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::event_bus::{EventBridgeBus, EventBus, OutgoingEvent};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::idempotency::{Claim, Idempotency};
use seams_platform::object_store::{ObjectStore, PutOptions, S3ObjectStore, StoreError};
use seams_platform::queue::{OutgoingMessage, Queue, SqsQueue};
use seams_platform::trigger::Trigger;
use seams_platform::{http, ServiceError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{DocumentStore, Tombstone};
use crate::validate::{Limits, MediaType, MIB};

/// Checked once at init.
#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    pub raw_bucket: String,
    pub process_queue_url: String,
    pub event_bus_name: String,
    pub settings: Settings,
    /// Upstream buckets `DocumentPublished` events may point at with `s3_uri`.
    pub source_buckets: Vec<String>,
}

/// What can be tuned without code.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub limits: Limits,
    pub upload_url_ttl: Duration,
    /// Texts up to this size ride inside the claim check, saving process a read.
    pub inline_claim_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { limits: Limits::default(), upload_url_ttl: Duration::from_secs(900), inline_claim_bytes: 64 * 1024 }
    }
}

fn list(value: Option<String>) -> Vec<String> {
    value.map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let defaults = Settings::default();
        let mut limits = defaults.limits.clone();
        let content_types = list(env.optional("SEAMS_CONTENT_TYPES"));
        if !content_types.is_empty() {
            limits.content_types = content_types.iter().map(|t| t.to_ascii_lowercase()).collect();
        }
        limits.inline_max_bytes = env.parse_or("SEAMS_INLINE_MAX_BYTES", limits.inline_max_bytes);
        limits.upload_max_bytes = env.parse_or("SEAMS_UPLOAD_MAX_BYTES", limits.upload_max_bytes);
        let ttl = env.parse_or("SEAMS_UPLOAD_URL_TTL_SECONDS", defaults.upload_url_ttl.as_secs());
        let config = Self {
            aws: AwsSettings::from_env(&env),
            raw_bucket: env.required("SEAMS_RAW_BUCKET"),
            process_queue_url: env.required("SEAMS_PROCESS_QUEUE_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            settings: Settings { limits, upload_url_ttl: Duration::from_secs(ttl), ..defaults },
            source_buckets: list(env.optional("SEAMS_SOURCE_BUCKETS")),
        };
        env.finish().map(|()| config)
    }
}

/// What ingest was asked to do, whichever trigger asked.
#[derive(Debug, Clone)]
pub enum Request {
    Document(Box<IngestDocumentRequest>),
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

/// A document on its way in, whatever brought it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub document_id: Option<String>,
    pub source_uri: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub attributes: Attributes,
}

/// A document ready to store: checked, normalised and fingerprinted. Pure.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub document_id: String,
    pub source_uri: Option<String>,
    pub media: MediaType,
    /// Normalised UTF-8 text, or a PDF's own bytes.
    pub body: Bytes,
    pub fingerprint_hex: String,
    pub attributes: Attributes,
}

impl Prepared {
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", self.fingerprint_hex)
    }

    fn text(&self) -> Option<&str> {
        if self.media.is_pdf() {
            None
        } else {
            std::str::from_utf8(&self.body).ok()
        }
    }
}

/// The hex SHA-256 of a document's stored bytes: equal for the same text in any encoding,
/// since it is taken after normalisation.
pub fn fingerprint_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Checks, normalises and fingerprints a document; derives its id when none was given
/// (from `source_uri`, else from the content).
fn prepare(incoming: Incoming, limits: &Limits) -> Result<Prepared, ServiceError> {
    let media = validate::media_type(&incoming.content_type, limits)?;
    if let Some(id) = &incoming.document_id {
        validate::document_id(id)?;
    }
    if let Some(uri) = &incoming.source_uri {
        validate::source_uri(uri)?;
    }
    validate::attributes(&incoming.attributes, limits)?;
    let body = if media.is_pdf() {
        if !incoming.bytes.starts_with(b"%PDF-") {
            return Err(ServiceError::invalid_input("content", "application/pdf content does not start with %PDF-"));
        }
        incoming.bytes
    } else {
        let text = normalise::normalise(&incoming.bytes, media.charset.as_deref())
            .map_err(|e| ServiceError::invalid_input("content", e.to_string()))?;
        if media.essence == "application/json" {
            serde_json::from_str::<serde::de::IgnoredAny>(&text)
                .map_err(|e| ServiceError::invalid_input("content", format!("not valid JSON: {e}")))?;
        }
        text.into_bytes()
    };
    let fingerprint_hex = fingerprint_hex(&body);
    let document_id = match (incoming.document_id, &incoming.source_uri) {
        (Some(id), _) => id,
        (None, Some(uri)) => format!("src-{}", &hex::encode(Sha256::digest(uri.as_bytes()))[..32]),
        (None, None) => format!("sha-{}", &fingerprint_hex[..32]),
    };
    Ok(Prepared {
        document_id,
        source_uri: incoming.source_uri,
        media,
        body: Bytes::from(body),
        fingerprint_hex,
        attributes: incoming.attributes,
    })
}

/// The service and the adapters it works through.
pub struct Service {
    store: DocumentStore,
    ledger: Idempotency,
    process_queue: Arc<dyn Queue>,
    bus: Arc<dyn EventBus>,
    /// Readable upstream buckets, by name.
    sources: BTreeMap<String, Arc<dyn ObjectStore>>,
    settings: Settings,
}

/// How long a claim on a document version stays in progress before another attempt may
/// take it over (a crashed invocation's claim).
const CLAIM_TTL: Duration = Duration::from_secs(60);
/// How long a duplicate waits for the first request of its content to finish.
const DUPLICATE_WAIT: Duration = Duration::from_secs(10);
const BATCH_LIMIT: usize = 100;
const BATCH_CONCURRENCY: usize = 4;

impl Service {
    pub fn new(
        raw: Arc<dyn ObjectStore>,
        process_queue: Arc<dyn Queue>,
        bus: Arc<dyn EventBus>,
        sources: BTreeMap<String, Arc<dyn ObjectStore>>,
        settings: Settings,
    ) -> Self {
        Self {
            store: DocumentStore { bucket: raw.clone() },
            ledger: Idempotency::new(raw, store::LEDGER_PREFIX, CLAIM_TTL),
            process_queue,
            bus,
            sources,
            settings,
        }
    }

    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let s3 = config.aws.s3(sdk);
        let sources = config
            .source_buckets
            .iter()
            .map(|bucket| (bucket.clone(), Arc::new(S3ObjectStore::new(s3.clone(), bucket)) as Arc<dyn ObjectStore>))
            .collect();
        Self::new(
            Arc::new(S3ObjectStore::new(s3, &config.raw_bucket)),
            Arc::new(SqsQueue::new(seams_platform::aws::sqs(sdk), &config.process_queue_url)),
            Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
            sources,
            config.settings.clone(),
        )
    }

    /// Stores a document version once and hands it to processing. Concurrent requests with
    /// the same content: one stores and publishes, the others answer `duplicate` once it has.
    /// A document whose bytes the caller holds (the local CLI reads files): the same checks,
    /// deduplication and hand-off as every trigger, within the upload size limit.
    pub async fn ingest_bytes(
        &self,
        incoming: Incoming,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        if incoming.bytes.len() as u64 > self.settings.limits.upload_max_bytes {
            return Err(validate::too_large("content", self.settings.limits.upload_max_bytes));
        }
        self.ingest(incoming, correlation).await
    }

    async fn ingest(&self, incoming: Incoming, correlation: &CorrelationId) -> Result<IngestResponse, ServiceError> {
        let prepared = prepare(incoming, &self.settings.limits)?;
        let claim_key = format!("{}/{}", prepared.document_id, prepared.fingerprint_hex);
        let deadline = tokio::time::Instant::now() + DUPLICATE_WAIT;
        loop {
            match self.ledger.claim::<IngestResponse>(&claim_key).await.map_err(store_error)? {
                Claim::Acquired(token) => {
                    return match self.store_and_publish(&prepared, correlation).await {
                        Ok(response) => {
                            self.ledger.complete(token, &response).await.map_err(store_error)?;
                            Ok(response)
                        }
                        Err(error) => {
                            // Nothing was announced for sure: let a retry start over.
                            let _ = self.ledger.release(token).await;
                            Err(error)
                        }
                    };
                }
                Claim::Completed(first) => return self.duplicate(&prepared, first, correlation).await,
                Claim::InProgress { .. } if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Claim::InProgress { .. } => {
                    return Err(ServiceError::transient(format!(
                        "{} is being ingested by another request; retry shortly",
                        prepared.document_id
                    )));
                }
            }
        }
    }

    /// Content stored before: nothing is published again, unless the document was deleted
    /// since, in which case the same version is handed to processing once more.
    async fn duplicate(
        &self,
        prepared: &Prepared,
        first: IngestResponse,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        if self.store.tombstone(&prepared.document_id).await?.is_some() {
            self.store.revive(&prepared.document_id).await?;
            self.publish(prepared, first.version, correlation).await?;
            return Ok(IngestResponse { duplicate: false, status: IngestStatus::Queued, ..first });
        }
        Ok(IngestResponse { duplicate: true, status: IngestStatus::Duplicate, ..first })
    }

    async fn store_and_publish(
        &self,
        prepared: &Prepared,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        let key = store::raw_key(&prepared.document_id, &prepared.fingerprint_hex);
        let options = PutOptions { content_type: Some(prepared.media.essence.clone()), ..PutOptions::if_absent() };
        match self.store.bucket.put(&key, prepared.body.clone(), options).await {
            // Content-addressed: an earlier attempt that stopped after this step wrote the same bytes.
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let stored = StoredVersion {
            version: 0,
            fingerprint: prepared.fingerprint(),
            content_type: prepared.media.essence.clone(),
            byte_size: prepared.body.len() as u64,
            stored_at: Utc::now(),
        };
        let version = self.store.assign_version(&prepared.document_id, stored).await?;
        if self.store.tombstone(&prepared.document_id).await?.is_some() {
            self.store.revive(&prepared.document_id).await?;
        }
        self.publish(prepared, version, correlation).await?;
        tracing::info!(document_id = %prepared.document_id, version, fingerprint = %prepared.fingerprint(), "document ingested");
        Ok(IngestResponse {
            schema_version: V1,
            document_id: prepared.document_id.clone(),
            version,
            fingerprint: prepared.fingerprint(),
            duplicate: false,
            status: IngestStatus::Queued,
        })
    }

    /// The claim check to the processing queue, then `DocumentIngested` on the bus.
    async fn publish(
        &self,
        prepared: &Prepared,
        version: u32,
        correlation: &CorrelationId,
    ) -> Result<(), ServiceError> {
        let raw = ObjectRef {
            bucket: self.store.bucket.location().to_owned(),
            key: store::raw_key(&prepared.document_id, &prepared.fingerprint_hex),
        };
        let mut claim = ProcessDocument {
            schema_version: V1,
            correlation_id: correlation.clone(),
            document_id: prepared.document_id.clone(),
            version,
            fingerprint: prepared.fingerprint(),
            content_type: prepared.media.essence.clone(),
            byte_size: prepared.body.len() as u64,
            source_uri: prepared.source_uri.clone(),
            attributes: prepared.attributes.clone(),
            raw: raw.clone(),
            inline_content: None,
            ingested_at: Utc::now(),
        };
        let encode = |claim: &ProcessDocument| {
            serde_json::to_string(claim)
                .map_err(|e| ServiceError::transient(format!("could not encode the claim check: {e}")))
        };
        let mut body = encode(&claim)?;
        if let Some(text) = prepared.text().filter(|t| t.len() <= self.settings.inline_claim_bytes) {
            claim.inline_content = Some(text.to_owned());
            let with_text = encode(&claim)?;
            // Stay well inside SQS's 256 KiB, attributes included.
            if with_text.len() <= 200 * 1024 {
                body = with_text;
            }
        }
        let message = OutgoingMessage::new(body).with_attribute(CorrelationId::ATTRIBUTE, correlation.as_str());
        self.process_queue.send(message).await?;
        let event = DocumentIngested {
            schema_version: V1,
            correlation_id: correlation.clone(),
            document_id: prepared.document_id.clone(),
            version,
            fingerprint: prepared.fingerprint(),
            content_type: prepared.media.essence.clone(),
            byte_size: prepared.body.len() as u64,
            raw,
        };
        self.bus.publish(vec![OutgoingEvent::from_detail(&event)?]).await?;
        Ok(())
    }

    async fn ingest_request(
        &self,
        request: IngestDocumentRequest,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        let bytes = validate::content_bytes(
            request.content.as_deref(),
            request.content_base64.as_deref(),
            self.settings.limits.inline_max_bytes,
        )?;
        let incoming = Incoming {
            document_id: request.document_id,
            source_uri: request.source_uri,
            content_type: request.content_type,
            bytes,
            attributes: request.attributes,
        };
        self.ingest(incoming, correlation).await
    }

    async fn ingest_batch(
        &self,
        batch: IngestBatchRequest,
        correlation: &CorrelationId,
    ) -> Result<IngestBatchResponse, ServiceError> {
        if batch.documents.is_empty() || batch.documents.len() > BATCH_LIMIT {
            let detail = format!("{} documents given; send 1 to {BATCH_LIMIT}", batch.documents.len());
            return Err(ServiceError::invalid_input("documents", detail));
        }
        let results = stream::iter(batch.documents.into_iter().enumerate())
            .map(|(index, document)| async move {
                match self.ingest_request(document, correlation).await {
                    Ok(response) => BatchItemResult::Accepted(response),
                    Err(mut error) => {
                        error.field = Some(match error.field.take() {
                            Some(field) => format!("documents[{index}].{field}"),
                            None => format!("documents[{index}]"),
                        });
                        BatchItemResult::Rejected(error.to_problem(Some(correlation)))
                    }
                }
            })
            .buffered(BATCH_CONCURRENCY)
            .collect()
            .await;
        Ok(IngestBatchResponse { schema_version: V1, results })
    }

    async fn start_upload(&self, request: UploadRequest) -> Result<UploadTicket, ServiceError> {
        let limits = &self.settings.limits;
        let media = validate::media_type(&request.content_type, limits)?;
        if request.byte_size == 0 || request.byte_size > limits.upload_max_bytes {
            let detail =
                format!("must be 1 to {} bytes ({} MiB)", limits.upload_max_bytes, limits.upload_max_bytes / MIB);
            return Err(ServiceError::invalid_input("byte_size", detail));
        }
        if let Some(id) = &request.document_id {
            validate::document_id(id)?;
        }
        if let Some(uri) = &request.source_uri {
            validate::source_uri(uri)?;
        }
        validate::attributes(&request.attributes, limits)?;
        let upload_id = uuid::Uuid::new_v4().to_string();
        self.store.save_ticket(&upload_id, &request).await?;
        let ttl = self.settings.upload_url_ttl;
        let url = self.store.bucket.presign_put(&store::upload_key(&upload_id), &request.content_type, ttl).await?;
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
        let headers = BTreeMap::from([("content-type".to_owned(), request.content_type.clone())]);
        tracing::info!(upload_id, content_type = %media.essence, byte_size = request.byte_size, "upload URL issued");
        Ok(UploadTicket { schema_version: V1, upload_id, url, method: "PUT".into(), headers, expires_at })
    }

    async fn ingest_upload(
        &self,
        record: &S3EventRecord,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
        if bucket != self.store.bucket.location() {
            return Err(ServiceError::invalid_input("s3.bucket.name", format!("{bucket:?} is not ingest's bucket")));
        }
        let key = locate::decode_event_key(record.s3.object.key.as_deref().unwrap_or_default())?;
        let upload_id = locate::upload_id(&key)?.to_owned();
        let ticket =
            self.store.ticket(&upload_id).await?.ok_or_else(|| {
                ServiceError::invalid_input("s3.object.key", format!("no upload ticket for {upload_id}"))
            })?;
        let outcome = async {
            let head = self.store.bucket.head(&key).await?;
            if head.size > self.settings.limits.upload_max_bytes {
                return Err(validate::too_large("s3.object.size", self.settings.limits.upload_max_bytes));
            }
            let object = self.store.bucket.get(&key).await?;
            let incoming = Incoming {
                document_id: ticket.document_id,
                source_uri: ticket.source_uri,
                content_type: ticket.content_type,
                bytes: object.body.to_vec(),
                attributes: ticket.attributes,
            };
            self.ingest(incoming, correlation).await
        }
        .await;
        // A stored or refused upload is done with; a transient failure keeps it for the retry.
        if !matches!(&outcome, Err(e) if e.name.is_retryable()) {
            self.store.discard_upload(&upload_id).await?;
        }
        outcome
    }

    async fn ingest_published(
        &self,
        event: DocumentPublished,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        let correlation = event.correlation_id.clone().unwrap_or_else(|| correlation.clone());
        let mut content_type = event.content_type;
        let bytes = match &event.s3_uri {
            Some(uri) => {
                if event.content.is_some() || event.content_base64.is_some() {
                    return Err(ServiceError::invalid_input(
                        "s3_uri",
                        "give content, content_base64 or s3_uri, not several",
                    ));
                }
                let (bucket, key) = locate::parse_s3_uri(uri)?;
                if content_type.trim().is_empty() {
                    content_type = validate::content_type_for_name(&key)
                        .ok_or_else(|| {
                            ServiceError::invalid_input(
                                "content_type",
                                format!("required: {key:?} has no known extension"),
                            )
                        })?
                        .to_owned();
                }
                let source = self.sources.get(&bucket).ok_or_else(|| {
                    ServiceError::invalid_input("s3_uri", format!("bucket {bucket} is not in SEAMS_SOURCE_BUCKETS"))
                })?;
                let max = self.settings.limits.upload_max_bytes;
                if source.head(&key).await?.size > max {
                    return Err(validate::too_large("s3_uri", max));
                }
                source.get(&key).await?.body.to_vec()
            }
            None => validate::content_bytes(
                event.content.as_deref(),
                event.content_base64.as_deref(),
                self.settings.limits.inline_max_bytes,
            )?,
        };
        let incoming = Incoming {
            document_id: event.document_id,
            source_uri: event.source_uri,
            content_type,
            bytes,
            attributes: event.attributes,
        };
        self.ingest(incoming, &correlation).await
    }

    async fn status(&self, document_id: &str) -> Result<DocumentStatus, ServiceError> {
        validate::document_id(document_id)?;
        let versions = self.store.versions(document_id).await?;
        let deleted = self.store.tombstone(document_id).await?.is_some();
        if versions.is_empty() && !deleted {
            return Err(ServiceError::not_found(format!("no document {document_id}")));
        }
        Ok(DocumentStatus { schema_version: V1, document_id: document_id.to_owned(), versions, deleted })
    }

    /// Marks a document deleted and announces it; its stored versions stay (retrieve drops
    /// it from the index). Deleting twice is harmless.
    async fn delete(&self, document_id: &str, correlation: &CorrelationId) -> Result<DocumentStatus, ServiceError> {
        let mut status = self.status(document_id).await?;
        let deleted_at = Utc::now();
        self.store.bury(document_id, &Tombstone { deleted_at }).await?;
        let event = DocumentDeleted {
            schema_version: V1,
            correlation_id: Some(correlation.clone()),
            document_id: document_id.to_owned(),
            deleted_at: Some(deleted_at),
        };
        self.bus.publish(vec![OutgoingEvent::from_detail(&event)?]).await?;
        tracing::info!(document_id, "document deleted");
        status.deleted = true;
        Ok(status)
    }
}

fn store_error(error: seams_platform::idempotency::IdempotencyError) -> ServiceError {
    ServiceError::transient(error.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ServiceError> {
    serde_json::to_value(value).map_err(|e| ServiceError::transient(format!("could not encode the response: {e}")))
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
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        let route = http::route_key(request);
        Ok(match route.as_str() {
            "POST /documents" => Request::Document(Box::new(parse_json(&http::body_bytes(request)?)?)),
            "POST /documents:batch" => Request::Batch(parse_json(&http::body_bytes(request)?)?),
            "POST /documents/uploads" => Request::Upload(parse_json(&http::body_bytes(request)?)?),
            "GET /documents/{id}" => Request::Status { document_id: http::path_parameter(request, "id")? },
            "DELETE /documents/{id}" => Request::Delete { document_id: http::path_parameter(request, "id")? },
            other => return Err(ServiceError::not_found(format!("ingest has no route {other}"))),
        })
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
            Request::Document(document) => {
                Ok(Reply::accepted(to_json(&self.ingest_request(*document, correlation).await?)?))
            }
            Request::Batch(batch) => Ok(Reply::ok(to_json(&self.ingest_batch(batch, correlation).await?)?)),
            Request::Upload(upload) => Ok(Reply { status: 201, body: to_json(&self.start_upload(upload).await?)? }),
            Request::Status { document_id } => Ok(Reply::ok(to_json(&self.status(&document_id).await?)?)),
            Request::Delete { document_id } => {
                Ok(Reply::accepted(to_json(&self.delete(&document_id, correlation).await?)?))
            }
            Request::DeleteRequested(event) => {
                let correlation = event.correlation_id.clone().unwrap_or_else(|| correlation.clone());
                Ok(Reply::accepted(to_json(&self.delete(&event.document_id, &correlation).await?)?))
            }
            Request::Published(event) => {
                Ok(Reply::accepted(to_json(&self.ingest_published(*event, correlation).await?)?))
            }
            Request::Uploaded(event) => {
                // Every record is tried; the first failure fails the invocation (Lambda
                // retries it, then sends it to ingest's DLQ). Stored ones answer duplicate.
                let mut responses = Vec::new();
                for record in &event.records {
                    responses.push(self.ingest_upload(record, correlation).await?);
                }
                Ok(Reply::accepted(to_json(&responses)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(content_type: &str, bytes: &[u8]) -> Incoming {
        Incoming {
            document_id: None,
            source_uri: None,
            content_type: content_type.into(),
            bytes: bytes.to_vec(),
            attributes: Attributes::new(),
        }
    }

    #[test]
    fn the_same_text_in_two_encodings_has_one_fingerprint() {
        let limits = Limits::default();
        let utf8 = prepare(incoming("text/plain", "Crème brûlée".as_bytes()), &limits).unwrap();
        let latin1 = encoding_rs::WINDOWS_1252.encode("Crème brûlée").0.into_owned();
        let declared = prepare(incoming("text/plain; charset=windows-1252", &latin1), &limits).unwrap();
        assert_eq!(utf8.fingerprint(), declared.fingerprint());
        assert_eq!(utf8.document_id, declared.document_id, "ids derived from content agree");
        assert!(utf8.fingerprint().starts_with("sha256:") && utf8.fingerprint_hex.len() == 64);
    }

    #[test]
    fn ids_derive_from_source_uri_before_content() {
        let mut with_uri = incoming("text/plain", b"v1");
        with_uri.source_uri = Some("https://example.com/a".into());
        let mut same_uri = incoming("text/plain", b"v2");
        same_uri.source_uri = Some("https://example.com/a".into());
        let limits = Limits::default();
        let first = prepare(with_uri, &limits).unwrap();
        let second = prepare(same_uri, &limits).unwrap();
        assert_eq!(first.document_id, second.document_id);
        assert!(first.document_id.starts_with("src-"));
        assert_ne!(first.fingerprint(), second.fingerprint());
    }

    #[test]
    fn pdf_bytes_are_kept_as_they_are() {
        let pdf = b"%PDF-1.7\n\x00\xFF binary";
        let prepared = prepare(incoming("application/pdf", pdf), &Limits::default()).unwrap();
        assert_eq!(prepared.body.as_ref(), pdf);
        let refused = prepare(incoming("application/pdf", b"hello"), &Limits::default()).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("content"));
    }

    #[test]
    fn json_documents_must_parse() {
        assert!(prepare(incoming("application/json", br#"{"a": [1, 2]}"#), &Limits::default()).is_ok());
        let refused = prepare(incoming("application/json", b"{oops"), &Limits::default()).unwrap_err();
        assert!(refused.detail.contains("not valid JSON"), "{refused}");
    }
}
