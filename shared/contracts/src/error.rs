//! Stable error names and the RFC 9457 problem document.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stable name of an error: the `errorType` Step Functions `Retry`/`Catch` match on, and
/// the `error` member of a problem document. Renaming a variant breaks deployed state machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ErrorName {
    /// The input is wrong; retrying the same input cannot succeed.
    #[serde(rename = "Seams.InvalidInput")]
    InvalidInput,
    #[serde(rename = "Seams.NotFound")]
    NotFound,
    /// Throttling, 5xx, timeouts: the same input may succeed later.
    #[serde(rename = "Seams.Transient")]
    Transient,
    /// The model provider is throttling or overloaded: retry with a longer backoff.
    #[serde(rename = "Seams.ModelThrottled")]
    ModelThrottled,
    /// The model answered, but not in the requested structure, even after a repair attempt.
    #[serde(rename = "Seams.InvalidModelOutput")]
    InvalidModelOutput,
    /// A delivery could not be made; the request is in output's dead-letter queue.
    #[serde(rename = "Seams.DeliveryFailed")]
    DeliveryFailed,
    /// A guardrail blocked the question or the answer; the same content is blocked again.
    #[serde(rename = "Seams.GuardrailIntervened")]
    GuardrailIntervened,
    /// This deployment lacks what the request needs (a store that cannot sign upload URLs):
    /// asking again cannot succeed until an operator changes the deployment.
    #[serde(rename = "Seams.Unsupported")]
    Unsupported,
    /// The caller may not do this: in a multi-tenant deployment, its token names no tenant.
    #[serde(rename = "Seams.Forbidden")]
    Forbidden,
}

impl ErrorName {
    pub const ALL: [ErrorName; 9] = [
        ErrorName::InvalidInput,
        ErrorName::NotFound,
        ErrorName::Transient,
        ErrorName::ModelThrottled,
        ErrorName::InvalidModelOutput,
        ErrorName::DeliveryFailed,
        ErrorName::GuardrailIntervened,
        ErrorName::Unsupported,
        ErrorName::Forbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "Seams.InvalidInput",
            ErrorName::NotFound => "Seams.NotFound",
            ErrorName::Transient => "Seams.Transient",
            ErrorName::ModelThrottled => "Seams.ModelThrottled",
            ErrorName::InvalidModelOutput => "Seams.InvalidModelOutput",
            ErrorName::DeliveryFailed => "Seams.DeliveryFailed",
            ErrorName::GuardrailIntervened => "Seams.GuardrailIntervened",
            ErrorName::Unsupported => "Seams.Unsupported",
            ErrorName::Forbidden => "Seams.Forbidden",
        }
    }

    /// The HTTP status a problem document of this kind is served with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorName::InvalidInput => 400,
            ErrorName::NotFound => 404,
            // The content was understood and refused, as the operator's policy says.
            ErrorName::GuardrailIntervened => 422,
            ErrorName::ModelThrottled => 429,
            ErrorName::InvalidModelOutput | ErrorName::DeliveryFailed => 502,
            ErrorName::Transient => 503,
            ErrorName::Unsupported => 501,
            ErrorName::Forbidden => 403,
        }
    }

    /// Whether the same input may succeed if tried again.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorName::Transient | ErrorName::ModelThrottled | ErrorName::DeliveryFailed)
    }

    fn slug(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "invalid-input",
            ErrorName::NotFound => "not-found",
            ErrorName::Transient => "transient",
            ErrorName::ModelThrottled => "model-throttled",
            ErrorName::InvalidModelOutput => "invalid-model-output",
            ErrorName::DeliveryFailed => "delivery-failed",
            ErrorName::GuardrailIntervened => "guardrail-intervened",
            ErrorName::Unsupported => "unsupported",
            ErrorName::Forbidden => "forbidden",
        }
    }

    /// The problem `type` URI for this error: stable, documented in docs/errors.md.
    pub fn problem_type(self) -> String {
        format!("{}{}", Problem::TYPE_PREFIX, self.slug())
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "The request is not valid",
            ErrorName::NotFound => "The resource does not exist",
            ErrorName::Transient => "A dependency is temporarily unavailable",
            ErrorName::ModelThrottled => "The model provider is throttling requests",
            ErrorName::InvalidModelOutput => "The model output did not match the requested format",
            ErrorName::DeliveryFailed => "The result could not be delivered",
            ErrorName::GuardrailIntervened => "A guardrail blocked the question or the answer",
            ErrorName::Unsupported => "This deployment does not offer what the request needs",
            ErrorName::Forbidden => "The caller may not do this",
        }
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem document (`application/problem+json`), with extension members: the
/// stable error name, for invalid input the offending field, and for a workflow (`POST
/// /answer`) the step that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub error: ErrorName,
    /// JSON path of the offending input field, e.g. `model_config.temperature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The workflow step that failed, e.g. `Retrieve` (`POST /answer` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl Problem {
    pub const CONTENT_TYPE: &'static str = "application/problem+json";
    pub const TYPE_PREFIX: &'static str = "urn:seams:problem:";

    pub fn new(error: ErrorName, detail: impl Into<String>) -> Self {
        Self {
            type_uri: error.problem_type(),
            title: error.title().to_owned(),
            status: error.http_status(),
            detail: detail.into(),
            instance: None,
            error,
            field: None,
            step: None,
            correlation_id: None,
        }
    }

    /// A body or document larger than accepted: HTTP 413 (Content Too Large) with its own
    /// type. Queues and workflows see `Seams.InvalidInput`: the same input cannot succeed.
    pub fn content_too_large(detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("{}content-too-large", Self::TYPE_PREFIX),
            title: "The content is larger than accepted".to_owned(),
            status: 413,
            ..Self::new(ErrorName::InvalidInput, detail)
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_name_serialises_to_its_stable_string() {
        for name in ErrorName::ALL {
            let json = serde_json::to_value(name).unwrap();
            assert_eq!(json, serde_json::Value::String(name.as_str().to_owned()));
            assert_eq!(serde_json::from_value::<ErrorName>(json).unwrap(), name);
        }
    }

    #[test]
    fn problem_types_are_distinct_per_error() {
        let mut types: Vec<_> = ErrorName::ALL.iter().map(|n| n.problem_type()).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), ErrorName::ALL.len());
    }

    #[test]
    fn invalid_input_is_a_400_that_is_never_retried() {
        let problem = Problem::new(ErrorName::InvalidInput, "top_k must be 1..=100").with_field("top_k");
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["type"], "urn:seams:problem:invalid-input");
        assert_eq!(json["status"], 400);
        assert_eq!(json["error"], "Seams.InvalidInput");
        assert_eq!(json["field"], "top_k");
        assert!(!ErrorName::InvalidInput.is_retryable());
        assert!(ErrorName::Transient.is_retryable());
    }
}
