//! Ingest's public API bodies, its claim-check message to process, and the upstream event.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{DOCUMENT_ID_PATTERN, MEDIA_TYPE_PATTERN};
use crate::{Attributes, CorrelationId, ObjectRef, V1};

/// `POST /documents`: one document, inline as text or base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["content"], "properties": {"content": {"type": "string"}}},
    {"required": ["content_base64"], "properties": {"content_base64": {"type": "string"}}},
]))]
pub struct IngestDocumentRequest {
    #[serde(default)]
    pub schema_version: V1,
    /// Stable id chosen by the caller; defaults to one derived from `source_uri`, else the
    /// content fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DOCUMENT_ID_PATTERN))]
    pub document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::common::SOURCE_URI_PATTERN))]
    pub source_uri: Option<String>,
    /// A media type, optionally with a `charset` parameter (`text/plain; charset=shift_jis`).
    #[schemars(pattern(MEDIA_TYPE_PATTERN))]
    pub content_type: String,
    /// The document as text. Exactly one of `content` and `content_base64` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

/// `POST /documents:batch`: up to 100 documents, each accepted or refused on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestBatchRequest {
    #[serde(default)]
    pub schema_version: V1,
    #[schemars(length(min = 1, max = 100))]
    pub documents: Vec<IngestDocumentRequest>,
}

/// What ingest did with a document it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IngestStatus {
    /// Stored and handed to processing.
    Queued,
    /// The same content was stored before; nothing was published again.
    Duplicate,
}

/// `202` response of `POST /documents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngestResponse {
    #[serde(default)]
    pub schema_version: V1,
    pub document_id: String,
    /// The document's version: 1 for its first content, +1 for each new content.
    pub version: u32,
    /// `sha256:<hex>` of the normalised content.
    pub fingerprint: String,
    pub duplicate: bool,
    pub status: IngestStatus,
}

/// One item of a batch response: the document's result or its problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum BatchItemResult {
    Accepted(IngestResponse),
    Rejected(crate::Problem),
}

/// Response of `POST /documents:batch`, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngestBatchResponse {
    #[serde(default)]
    pub schema_version: V1,
    pub results: Vec<BatchItemResult>,
}

/// `POST /documents/uploads`: ask for a presigned PUT URL for a file over the inline limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DOCUMENT_ID_PATTERN))]
    pub document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::common::SOURCE_URI_PATTERN))]
    pub source_uri: Option<String>,
    #[schemars(pattern(MEDIA_TYPE_PATTERN))]
    pub content_type: String,
    /// 1 byte to the deployment's upload limit (50 MiB by default).
    #[schemars(range(min = 1, max = 52_428_800))]
    pub byte_size: u64,
    #[serde(default)]
    pub attributes: Attributes,
}

/// Response of `POST /documents/uploads`: PUT the bytes to `url` with `headers` before `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UploadTicket {
    #[serde(default)]
    pub schema_version: V1,
    pub upload_id: String,
    pub url: String,
    pub method: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoredVersion {
    pub version: u32,
    pub fingerprint: String,
    pub content_type: String,
    pub byte_size: u64,
    pub stored_at: DateTime<Utc>,
    /// As ingested (absent on versions stored before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// `GET /documents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentStatus {
    #[serde(default)]
    pub schema_version: V1,
    pub document_id: String,
    pub versions: Vec<StoredVersion>,
    pub deleted: bool,
}

/// One document in `GET /documents`: its latest version's source and attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentSummary {
    pub document_id: String,
    /// The `title` attribute, when the document has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub latest_version: u32,
    pub version_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
    pub deleted: bool,
}

/// `GET /documents?limit=&after=`: documents in id order, a page at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentList {
    #[serde(default)]
    pub schema_version: V1,
    pub documents: Vec<DocumentSummary>,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// The claim check ingest sends to the processing queue: where the raw document is and what
/// it is; the bytes travel inline only when small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessDocument {
    #[serde(default)]
    pub schema_version: V1,
    pub correlation_id: CorrelationId,
    pub document_id: String,
    pub version: u32,
    pub fingerprint: String,
    pub content_type: String,
    pub byte_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
    pub raw: ObjectRef,
    /// The normalised text when it is small enough to ride along (never for PDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_content: Option<String>,
    pub ingested_at: DateTime<Utc>,
}

/// Upstream event `DocumentPublished`: a document to ingest, inline or by S3 URI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentPublished {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    /// May be left out with `s3_uri`: then it follows the key's extension (the backfill
    /// state machine publishes objects this way).
    #[serde(default)]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// `s3://bucket/key` the ingest function is allowed to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_uri: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
    /// Whose document this is, in a multi-tenant deployment (required there): the publisher
    /// is trusted to say, as HTTP callers' tokens are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Event `DocumentIngested` on the seams bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentIngested {
    #[serde(default)]
    pub schema_version: V1,
    pub correlation_id: CorrelationId,
    pub document_id: String,
    pub version: u32,
    pub fingerprint: String,
    pub content_type: String,
    pub byte_size: u64,
    pub raw: ObjectRef,
}

/// Event `DocumentDeleted` on the seams bus (and the upstream request to delete, which
/// needs only `document_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentDeleted {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub document_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// An upstream deletion's tenant, in a multi-tenant deployment: `document_id` is then the
    /// tenant's own id. Ingest's own announcements carry the stored (qualified) id instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}
