//! `POST /inference`: the seed's request and the structured response.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CorrelationId, V1};

/// `POST /inference`, accepted exactly as the seed shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InferenceRequest {
    #[serde(default)]
    pub schema_version: V1,
    #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
    pub request_id: String,
    /// Retrieved context, kept apart from the instructions and presented to the model as data.
    #[serde(default)]
    pub context: Vec<ContextItem>,
    #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
    pub instructions: String,
    #[serde(default)]
    pub model_config: ModelConfig,
    /// Server-sent text deltas (Function URL with response streaming only).
    #[serde(default)]
    pub stream: bool,
    /// Set by a state machine's direct invoke (HTTP callers use `x-correlation-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
}

/// A context item: plain text, or a passage with an id the answer can cite
/// (retrieve's results fit directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ContextItem {
    Text(String),
    Passage(ContextPassage),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContextPassage {
    /// Retrieve's results carry it as `chunk_id`.
    #[serde(alias = "chunk_id")]
    #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
    pub id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8192))]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// A model alias from the service's configuration, never a raw provider model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A JSON Schema (an object) the output must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("type" = ["object", "null"]))]
    pub response_format: Option<serde_json::Value>,
}

/// The model's answer: text, or JSON when a `response_format` was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InferenceOutput {
    Text(String),
    Json(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    MaxTokens,
    StopSequence,
    ContentFiltered,
    ToolUse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InferenceResponse {
    #[serde(default)]
    pub schema_version: V1,
    pub request_id: String,
    pub output: InferenceOutput,
    /// Ids of the context items the answer used.
    #[serde(default)]
    pub citations: Vec<String>,
    pub model: String,
    pub provider: String,
    pub usage: Usage,
    pub finish_reason: FinishReason,
    pub latency_ms: u64,
    /// Ids of context items left out to fit the context budget, lowest-ranked first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated_context: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_request_is_accepted_as_written() {
        let request: InferenceRequest = serde_json::from_str(
            r#"{"request_id": "req-123", "context": ["Refunds are issued within 14 days."],
                "instructions": "Summarise the following in 3 bullet points.",
                "model_config": {"max_tokens": 500, "temperature": 0.1}}"#,
        )
        .unwrap();
        assert_eq!(request.request_id, "req-123");
        assert_eq!(request.model_config.max_tokens, Some(500));
        assert_eq!(request.model_config.temperature, Some(0.1));
        assert_eq!(request.context, vec![ContextItem::Text("Refunds are issued within 14 days.".into())]);
    }

    #[test]
    fn context_passages_keep_their_ids() {
        let item: ContextItem =
            serde_json::from_str(r#"{"id": "doc-1:1:0", "text": "Refunds...", "source": "s3://b/k"}"#).unwrap();
        assert!(matches!(item, ContextItem::Passage(p) if p.id == "doc-1:1:0"));
    }

    #[test]
    fn a_missing_request_id_is_named() {
        let error = serde_json::from_str::<InferenceRequest>(r#"{"instructions": "x"}"#).unwrap_err();
        assert!(error.to_string().contains("request_id"), "{error}");
    }
}

/// A `[…]` mark in an answer's text: its byte range and the names inside it (`[a, b]` or
/// `[a; b]`, trimmed). Whether a name is a context id is the caller's to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitationMark<'a> {
    pub range: std::ops::Range<usize>,
    pub ids: Vec<&'a str>,
}

/// Every `[…]` mark in `text`, in order: how answers cite their context.
pub fn citation_marks(text: &str) -> Vec<CitationMark<'_>> {
    let mut marks = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('[').map(|i| from + i) {
        let Some(close) = text[open + 1..].find(']').map(|i| open + 1 + i) else { break };
        let ids = text[open + 1..close].split([',', ';']).map(str::trim).collect();
        marks.push(CitationMark { range: open..close + 1, ids });
        from = close + 1;
    }
    marks
}
