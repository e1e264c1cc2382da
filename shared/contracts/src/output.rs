//! Output's delivery request, destinations, receipt and events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::infer::InferenceResponse;
use crate::{CorrelationId, ErrorName, V1};

/// Deliver an inference result to one destination, at most once per
/// `(idempotency_key or request_id, destination)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    #[serde(default)]
    pub schema_version: V1,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub result: InferenceResponse,
    pub destination: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<OutputFormat>,
    /// A caller template (minijinja), run sandboxed with size and time limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Text,
    Markdown,
    Html,
    Json,
}

/// Where a result goes. Secrets are referenced (ARN or name), never carried in the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// HTTPS POST of JSON signed with HMAC-SHA256 over timestamp + body.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_ref: Option<String>,
    },
    /// A Slack incoming webhook whose URL is held in a secret.
    Slack { webhook_secret_ref: String },
    Email {
        from: String,
        to: Vec<String>,
        #[serde(default)]
        cc: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject_template: Option<String>,
    },
    /// A JSON record in output's own bucket.
    S3 { key_template: String },
    Eventbridge {
        #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
        bus_name: String,
        #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
        detail_type: String,
    },
    /// The formatted body is returned to the caller.
    HttpResponse,
}

impl Destination {
    /// The destination kind, as used in ledger keys and receipts.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Webhook { .. } => "webhook",
            Destination::Slack { .. } => "slack",
            Destination::Email { .. } => "email",
            Destination::S3 { .. } => "s3",
            Destination::Eventbridge { .. } => "eventbridge",
            Destination::HttpResponse => "http_response",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    /// A repeat of a request already delivered: the original receipt, nothing sent.
    AlreadyDelivered,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryReceipt {
    #[serde(default)]
    pub schema_version: V1,
    pub request_id: String,
    pub destination: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// For `http_response`: the formatted body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The sources the answer cites, as delivered (always present, possibly empty, so a
    /// state machine can select it).
    #[serde(default)]
    pub citations: Vec<CitedSource>,
}

/// A source an answer cites: the citation id and what the request's `metadata.sources` said
/// about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CitedSource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    /// The parts of the answer's text this source supports: each sentence that carries its
    /// `[id]` mark (none for a structured answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<TextSpan>,
}

/// A part of an answer's text: `[start, end)` in Unicode code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TextSpan {
    pub start: usize,
    pub end: usize,
}

/// Event `AnswerDelivered` on the seams bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerDelivered {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub receipt: DeliveryReceipt,
}

/// Event `DeliveryFailed` on the seams bus; the full request is in output's DLQ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryFailed {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub request_id: String,
    pub destination: String,
    pub attempts: u32,
    pub error: ErrorName,
    pub cause: String,
}
