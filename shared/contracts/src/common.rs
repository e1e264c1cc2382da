//! Small types that appear in several contracts.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A document id, as ingest checks it: 1 to 200 letters, digits or `-_.:`, not starting with
/// `.` (ids become object keys). In the schemas, so a client can check before it sends.
pub const DOCUMENT_ID_PATTERN: &str = r"^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,199}$";

/// A media type ingest takes by default (`SEAMS_CONTENT_TYPES` can change the list), with
/// parameters allowed (`text/plain; charset=shift_jis`).
pub const MEDIA_TYPE_PATTERN: &str =
    r"^\s*(text/plain|text/markdown|text/html|application/json|application/pdf)\s*(;.*)?$";

/// A source URI as ingest takes one: 1 to 2,048 characters, none of them a control character.
pub const SOURCE_URI_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]{1,2048}$";

/// Text with at least one character that is not white space.
pub const NOT_BLANK_PATTERN: &str = r"\S";

/// Travels with every request, message attribute, event detail and execution input, and
/// appears in every log line, so one document or question can be followed across services.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct CorrelationId(pub String);

impl CorrelationId {
    /// The SQS message attribute and HTTP header that carry it.
    pub const ATTRIBUTE: &'static str = "correlation_id";
    pub const HEADER: &'static str = "x-correlation-id";

    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an object lives in a service's own store: the claim check that crosses a boundary
/// instead of the bytes themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

/// A caller-supplied attribute value: the types Bedrock Knowledge Bases filters accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AttributeValue {
    Bool(bool),
    Number(f64),
    String(String),
    StringList(Vec<String>),
}

/// Caller attributes on a document; they become chunk metadata that filters match.
pub type Attributes = BTreeMap<String, AttributeValue>;
