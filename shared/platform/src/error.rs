//! The error edge: one typed error for every handler, mapped once to the two contracts
//! callers see — an RFC 9457 problem over HTTP, a stable `errorType` for Step Functions.

use seams_contracts::{CorrelationId, ErrorName, Problem};
use serde::de::DeserializeOwned;

use crate::event_bus::BusError;
use crate::idempotency::IdempotencyError;
use crate::object_store::StoreError;
use crate::queue::QueueError;

/// Displayed as `Seams.InvalidInput: top_k: must be 1 to 100` (the field when there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {}{detail}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct ServiceError {
    pub name: ErrorName,
    pub detail: String,
    /// The offending input field, for `InvalidInput`.
    pub field: Option<String>,
    /// The workflow step that failed, when a workflow reports the error.
    pub step: Option<String>,
    /// Invalid because it is too large: over HTTP a 413 problem rather than a 400.
    pub too_large: bool,
    /// The detail is seams' own wording and names nothing internal, so a caller may read it
    /// even when the failure is inside seams (see [`Self::to_problem`]).
    pub detail_is_public: bool,
}

impl ServiceError {
    pub fn new(name: ErrorName, detail: impl Into<String>) -> Self {
        Self { name, detail: detail.into(), field: None, step: None, too_large: false, detail_is_public: false }
    }

    pub fn invalid_input(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(ErrorName::InvalidInput, detail) }
    }

    /// Invalid input that is larger than accepted (`Seams.InvalidInput`, HTTP 413).
    pub fn content_too_large(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { too_large: true, ..Self::invalid_input(field, detail) }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorName::NotFound, detail)
    }

    pub fn transient(detail: impl Into<String>) -> Self {
        Self::new(ErrorName::Transient, detail)
    }

    /// Marks the detail as fit for callers: seams' own words, no path, host, key or cause text.
    pub fn with_public_detail(mut self) -> Self {
        self.detail_is_public = true;
        self
    }

    pub fn in_step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    pub fn to_problem(&self, correlation_id: Option<&CorrelationId>) -> Problem {
        let detail = self.public_detail();
        let mut problem = match self.too_large {
            true => Problem::content_too_large(detail),
            false => Problem::new(self.name, detail),
        };
        problem.field = self.field.clone();
        problem.step = self.step.clone();
        problem.correlation_id = correlation_id.map(|c| c.to_string());
        problem
    }

    /// What a caller may read. A problem with the request itself is explained in full; a
    /// failure inside seams or beneath it gets a fixed sentence, so no path, host, bucket key
    /// or stack detail leaves. The full detail is logged under the correlation id.
    fn public_detail(&self) -> String {
        if self.detail_is_public {
            return self.detail.clone();
        }
        let fixed = match self.name {
            ErrorName::Transient => {
                "A dependency is temporarily unavailable; retry later. The cause is logged under this correlation_id."
            }
            ErrorName::ModelThrottled => "The model provider is throttling requests; retry with a longer backoff.",
            ErrorName::DeliveryFailed => {
                "The result could not be delivered; the request is in output's dead-letter queue."
            }
            ErrorName::InvalidInput
            | ErrorName::NotFound
            | ErrorName::InvalidModelOutput
            | ErrorName::GuardrailIntervened
            | ErrorName::Unsupported
            | ErrorName::Forbidden => return self.detail.clone(),
        };
        fixed.to_owned()
    }
}

/// What Lambda reports as `errorType`/`errorMessage`, which Step Functions matches on.
impl From<ServiceError> for lambda_runtime::Diagnostic {
    fn from(error: ServiceError) -> Self {
        lambda_runtime::Diagnostic { error_type: error.name.as_str().to_owned(), error_message: error.to_string() }
    }
}

macro_rules! from_adapter_error {
    ($error:ty) => {
        impl From<$error> for ServiceError {
            fn from(error: $error) -> Self {
                Self::new(error.error_name(), error.to_string())
            }
        }
    };
}

from_adapter_error!(StoreError);
from_adapter_error!(QueueError);
from_adapter_error!(BusError);

/// A ledger that cannot be read or written, or a claim still held elsewhere: worth a retry.
impl From<IdempotencyError> for ServiceError {
    fn from(error: IdempotencyError) -> Self {
        Self::transient(error.to_string())
    }
}

/// Parses a JSON body into a contract type; on failure the error names the JSON path of the
/// offending field (`model_config.temperature`), or `body` when the JSON itself is broken.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServiceError::invalid_input("body", "the body is empty"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = parsed.map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let field =
            if inner.is_syntax() || inner.is_eof() { "body".to_owned() } else { field_of(&path, &inner.to_string()) };
        ServiceError::invalid_input(field, inner.to_string())
    })?;
    deserializer
        .end()
        .map_err(|e| ServiceError::invalid_input("body", format!("trailing characters after the JSON value: {e}")))?;
    Ok(value)
}

/// [`parse_json`] for a value already parsed as JSON (a direct invoke's payload).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ServiceError> {
    let parsed: Result<T, _> = serde_path_to_error::deserialize(value);
    parsed.map_err(|error| {
        let path = error.path().to_string();
        let detail = error.into_inner().to_string();
        ServiceError::invalid_input(field_of(&path, &detail), detail)
    })
}

/// The field an error is about: its path, and for a missing field the field itself
/// (serde reports those at the enclosing object).
fn field_of(path: &str, detail: &str) -> String {
    let missing = detail.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use seams_contracts::infer::InferenceRequest;

    use super::*;

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let body = br#"{"request_id":"r","instructions":"i","model_config":{"temperature":"hot"}}"#;
        let error = parse_json::<InferenceRequest>(body).unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert_eq!(error.field.as_deref(), Some("model_config.temperature"));
    }

    #[test]
    fn a_missing_field_is_named_itself() {
        let error = parse_json::<InferenceRequest>(br#"{"instructions": "x"}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("request_id"));
        let error = from_value::<InferenceRequest>(serde_json::json!({"request_id": "r"})).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("instructions"));
    }

    #[test]
    fn broken_and_empty_bodies_name_the_body() {
        for body in [&b"{\"request_id\": "[..], b"", b"  \n", br#"{"request_id": "r", "instructions": "i"} {}"#] {
            let error = parse_json::<InferenceRequest>(body).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("body"), "{body:?}: {error}");
        }
    }

    #[test]
    fn lambda_errors_carry_the_stable_name() {
        let diagnostic: lambda_runtime::Diagnostic = ServiceError::transient("S3 timed out").into();
        assert_eq!(diagnostic.error_type, "Seams.Transient");
        assert!(diagnostic.error_message.contains("S3 timed out"));
    }

    #[test]
    fn a_failure_inside_seams_shows_callers_a_fixed_sentence() {
        let cause = "object store unavailable: /srv/seams/ingest/ledger/doc-1: Not a directory (os error 20)";
        for name in [ErrorName::Transient, ErrorName::ModelThrottled, ErrorName::DeliveryFailed] {
            let problem = ServiceError::new(name, cause).to_problem(None);
            assert!(!problem.detail.contains("/srv") && !problem.detail.contains("os error"), "{problem:?}");
            assert_eq!(problem.error, name);
            // Step Functions and the dead-letter queues still get the cause.
            let diagnostic: lambda_runtime::Diagnostic = ServiceError::new(name, cause).into();
            assert!(diagnostic.error_message.contains(cause));
        }
        let own = ServiceError::transient("the answer workflow did not finish within 1 s").with_public_detail();
        assert_eq!(own.to_problem(None).detail, "the answer workflow did not finish within 1 s");
        let input = ServiceError::invalid_input("top_k", "must be 1 to 100").to_problem(None);
        assert_eq!(input.detail, "must be 1 to 100");
    }

    #[test]
    fn problems_carry_field_and_correlation() {
        let problem =
            ServiceError::invalid_input("top_k", "must be 1 to 100").to_problem(Some(&CorrelationId::new("c-1")));
        assert_eq!((problem.status, problem.field.as_deref()), (400, Some("top_k")));
        assert_eq!(problem.correlation_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn too_large_input_is_a_413_problem_and_invalid_input_to_workflows() {
        let error = ServiceError::content_too_large("content", "larger than 5 MiB");
        let problem = error.to_problem(None);
        assert_eq!((problem.status, problem.type_uri.as_str()), (413, "urn:seams:problem:content-too-large"));
        assert_eq!((problem.error, problem.field.as_deref()), (ErrorName::InvalidInput, Some("content")));
        assert_eq!(lambda_runtime::Diagnostic::from(error).error_type, "Seams.InvalidInput");
    }
}
