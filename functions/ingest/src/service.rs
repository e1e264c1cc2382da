//! The service: stores each distinct document version once and hands it to processing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::s3::S3EventRecord;
use chrono::Utc;
use futures::stream::{self, StreamExt};
use seams_contracts::ingest::{
    BatchItemResult, DocumentDeleted, DocumentIngested, DocumentList, DocumentPublished, DocumentStatus,
    IngestBatchRequest, IngestBatchResponse, IngestDocumentRequest, IngestResponse, IngestStatus, ProcessDocument,
    StoredVersion, UploadRequest, UploadTicket,
};
use seams_contracts::{AttributeValue, CorrelationId, ObjectRef, V1};
use seams_platform::event_bus::{EventBus, OutgoingEvent};
use seams_platform::idempotency::{Claimed, Idempotency};
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_platform::queue::{OutgoingMessage, Queue};
use seams_platform::tenancy::{refuse_callers_tenant, Tenant, TENANT_ATTRIBUTE};
use seams_platform::ServiceError;

use crate::prepare::{prepare, Incoming, Prepared};
use crate::store::{self, DocumentStore, Tombstone};
use crate::validate::{self, MIB};
use crate::{locate, Settings};

/// The service and the adapters it works through.
pub struct Service {
    store: DocumentStore,
    ledger: Idempotency,
    process_queue: Arc<dyn Queue>,
    bus: Arc<dyn EventBus>,
    /// Readable upstream buckets, by name.
    sources: BTreeMap<String, Arc<dyn ObjectStore>>,
    pub(crate) settings: Settings,
}

/// How long a claim on a document version stays in progress before another attempt may
/// take it over (a crashed invocation's claim).
const CLAIM_TTL: Duration = Duration::from_secs(60);
/// How long a duplicate waits for the first request of its content to finish.
const DUPLICATE_WAIT: Duration = Duration::from_secs(10);
const BATCH_LIMIT: usize = 100;
const BATCH_CONCURRENCY: usize = 4;
const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

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

    /// Frees the claims of ingests that never finished (the local runner, restarting after a
    /// crash), so their retries go through at once.
    pub async fn release_abandoned_claims(&self) -> Result<usize, ServiceError> {
        Ok(self.ledger.release_in_progress().await?)
    }

    /// Stores a document version once and hands it to processing. Concurrent requests with
    /// the same content: one stores and publishes, the others answer `duplicate` once it has.
    async fn ingest(&self, incoming: Incoming, correlation: &CorrelationId) -> Result<IngestResponse, ServiceError> {
        let outcome = self.ingest_once(incoming, correlation).await;
        let counted = match &outcome {
            Ok(response) if response.duplicate => "DocumentsDuplicate",
            Ok(_) => "DocumentsIngested",
            Err(error) if error.name == seams_contracts::ErrorName::InvalidInput => "DocumentsRejected",
            Err(_) => "DocumentsFailed",
        };
        seams_platform::metrics::count(counted, 1.0, None);
        outcome
    }

    async fn ingest_once(
        &self,
        incoming: Incoming,
        correlation: &CorrelationId,
    ) -> Result<IngestResponse, ServiceError> {
        let prepared = prepare(incoming, &self.settings.limits)?;
        let claim_key = format!("{}/{}", prepared.document_id, prepared.fingerprint_hex);
        match self.ledger.claim_or_wait::<IngestResponse>(&claim_key, DUPLICATE_WAIT).await? {
            Claimed::Acquired(token) => match self.store_and_publish(&prepared, correlation).await {
                Ok(response) => {
                    self.ledger.complete(token, &response).await?;
                    Ok(response)
                }
                Err(error) => {
                    // Nothing was announced for sure: let a retry start over.
                    self.ledger.release(token).await;
                    Err(error)
                }
            },
            Claimed::Completed(first) => self.duplicate(&prepared, first, correlation).await,
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
            source_uri: prepared.source_uri.clone(),
            attributes: prepared.attributes.clone(),
        };
        let version = self.store.assign_version(&prepared.document_id, stored).await?;
        if self.store.tombstone(&prepared.document_id).await?.is_some() {
            self.store.revive(&prepared.document_id).await?;
        }
        self.publish(prepared, version, correlation).await?;
        tracing::info!(document_id = %prepared.document_id, version, fingerprint = %prepared.fingerprint(), "document ingested");
        let size = prepared.body.len() as f64;
        seams_platform::metrics::record("DocumentBytes", size, seams_platform::metrics::Unit::Bytes, None);
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

    pub(crate) async fn ingest_request(
        &self,
        request: IngestDocumentRequest,
        tenant: Option<&Tenant>,
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
            tenant: tenant.cloned(),
        };
        self.ingest(incoming, correlation).await
    }

    pub(crate) async fn ingest_batch(
        &self,
        batch: IngestBatchRequest,
        tenant: Option<&Tenant>,
        correlation: &CorrelationId,
    ) -> Result<IngestBatchResponse, ServiceError> {
        if batch.documents.is_empty() || batch.documents.len() > BATCH_LIMIT {
            let detail = format!("{} documents given; send 1 to {BATCH_LIMIT}", batch.documents.len());
            return Err(ServiceError::invalid_input("documents", detail));
        }
        let results = stream::iter(batch.documents.into_iter().enumerate())
            .map(|(index, document)| async move {
                match self.ingest_request(document, tenant, correlation).await {
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

    pub(crate) async fn start_upload(
        &self,
        mut request: UploadRequest,
        tenant: Option<&Tenant>,
    ) -> Result<UploadTicket, ServiceError> {
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
        if let Some(tenant) = tenant {
            // The ticket keeps the tenant; the upload is stored as this tenant's when it lands.
            let own = AttributeValue::String(tenant.as_str().to_owned());
            if request.attributes.get(TENANT_ATTRIBUTE).is_some_and(|given| *given != own) {
                return Err(refuse_callers_tenant("attributes.tenant"));
            }
            request.attributes.insert(TENANT_ATTRIBUTE.to_owned(), own);
        }
        let upload_id = uuid::Uuid::new_v4().to_string();
        self.store.save_ticket(&upload_id, &request).await?;
        let ttl = self.settings.upload_url_ttl;
        let url = self.store.bucket.presign_put(&store::upload_key(&upload_id), &request.content_type, ttl).await?;
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
        let headers = BTreeMap::from([("content-type".to_owned(), request.content_type.clone())]);
        tracing::info!(upload_id, content_type = %media.essence, byte_size = request.byte_size, "upload URL issued");
        Ok(UploadTicket { schema_version: V1, upload_id, url, method: "PUT".into(), headers, expires_at })
    }

    pub(crate) async fn ingest_upload(
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
            let tenant = match (self.settings.tenancy.is_multi_tenant(), ticket.attributes.get(TENANT_ATTRIBUTE)) {
                (true, Some(AttributeValue::String(name))) => Some(Tenant::new(name)?),
                (true, _) => {
                    return Err(ServiceError::invalid_input("s3.object.key", "the upload's ticket has no tenant"))
                }
                (false, _) => None,
            };
            let incoming = Incoming {
                document_id: ticket.document_id,
                source_uri: ticket.source_uri,
                content_type: ticket.content_type,
                bytes: object.body.to_vec(),
                attributes: ticket.attributes,
                tenant,
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

    /// An upstream event's tenant: required in a multi-tenant deployment, honoured if given.
    pub(crate) fn upstream_tenant(&self, tenant: Option<&str>) -> Result<Option<Tenant>, ServiceError> {
        match tenant {
            Some(name) => Tenant::new(name)
                .map(Some)
                .map_err(|_| ServiceError::invalid_input("detail.tenant", "not a valid tenant name")),
            None if self.settings.tenancy.is_multi_tenant() => {
                Err(ServiceError::invalid_input("detail.tenant", "required: this deployment is multi-tenant"))
            }
            None => Ok(None),
        }
    }

    pub(crate) async fn ingest_published(
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
            tenant: self.upstream_tenant(event.tenant.as_deref())?,
        };
        self.ingest(incoming, &correlation).await
    }

    /// The stored id a caller's id stands for: its tenant's qualified id, or itself.
    pub(crate) fn stored_id(document_id: &str, tenant: Option<&Tenant>) -> String {
        tenant.map_or_else(|| document_id.to_owned(), |tenant| tenant.qualify(document_id))
    }

    pub(crate) async fn status(&self, document_id: &str) -> Result<DocumentStatus, ServiceError> {
        validate::document_id(document_id)?;
        let versions = self.store.versions(document_id).await?;
        let deleted = self.store.tombstone(document_id).await?.is_some();
        if versions.is_empty() && !deleted {
            return Err(ServiceError::not_found(format!("no document {document_id}")));
        }
        Ok(DocumentStatus { schema_version: V1, document_id: document_id.to_owned(), versions, deleted })
    }

    /// A page of `GET /documents`: at most `limit` (1 to 1000) documents after the id `after`.
    pub(crate) async fn list(
        &self,
        after: Option<&str>,
        limit: Option<&str>,
        tenant: Option<&Tenant>,
    ) -> Result<DocumentList, ServiceError> {
        let limit = match limit {
            None => DEFAULT_LIST_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                .ok_or_else(|| ServiceError::invalid_input("limit", format!("must be 1 to {MAX_LIST_LIMIT}")))?,
        };
        let prefix = tenant.map(Tenant::prefix);
        let (documents, next_after) = self.store.documents(after, limit, prefix.as_deref()).await?;
        Ok(DocumentList { schema_version: V1, documents, next_after })
    }

    /// Marks a document deleted and announces it; its stored versions stay (retrieve drops
    /// it from the index). Deleting twice is harmless.
    pub(crate) async fn delete(
        &self,
        document_id: &str,
        correlation: &CorrelationId,
    ) -> Result<DocumentStatus, ServiceError> {
        let mut status = self.status(document_id).await?;
        let deleted_at = Utc::now();
        self.store.bury(document_id, &Tombstone { deleted_at }).await?;
        let event = DocumentDeleted {
            schema_version: V1,
            correlation_id: Some(correlation.clone()),
            document_id: document_id.to_owned(),
            deleted_at: Some(deleted_at),
            tenant: None,
        };
        self.bus.publish(vec![OutgoingEvent::from_detail(&event)?]).await?;
        tracing::info!(document_id, "document deleted");
        status.deleted = true;
        Ok(status)
    }
}
