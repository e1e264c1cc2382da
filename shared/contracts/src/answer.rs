//! The answer workflow's input (`POST /answer`, upstream `QuestionAsked`) and its events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::infer::{InferenceOutput, InferenceResponse};
use crate::output::{CitedSource, DeliveryReceipt, Destination};
use crate::retrieve::{Filter, SearchMode};
use crate::{CorrelationId, ErrorName, V1};

/// A question's most characters, as Bedrock's `RetrieveAndGenerate` takes. The workflow's
/// state holds a question several times (as asked, standing alone, its parts) within
/// Step Functions' 256 KiB.
pub const MAX_QUESTION_CHARS: usize = 20_000;

/// `POST /answer` and the answer state machine's execution input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    #[schemars(pattern(crate::common::NOT_BLANK_PATTERN), length(max = MAX_QUESTION_CHARS))]
    pub question: String,
    /// Continue this conversation: the question may be a follow-up ("and for digital ones?").
    /// Left out, the answer starts a new session and returns its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::session::SESSION_ID_PATTERN))]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_mode: Option<SearchMode>,
    /// Rerank the retrieved passages before answering (`POST /retrieve`'s `rerank`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Split a compound question into sub-questions, retrieve for each and answer once from
    /// all of them. Left out, the deployment's default (`DecomposeQuestions`) applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decompose: Option<bool>,
    /// Check the question and the answer with the guardrail even where the deployment does
    /// not by default (`SEAMS_GUARDRAIL`). `false` cannot turn off a deployment's guardrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<bool>,
    pub destination: Destination,
    /// Answer from this tenant's documents only. `POST /answer` sets it from the caller's
    /// token (a body may not); an upstream `QuestionAsked` carries it in its detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// `POST /answer`'s `200`: the answer workflow's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerResponse {
    pub request_id: String,
    /// The conversation this answer is a turn of: send it back to ask a follow-up.
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub answer: InferenceOutput,
    #[serde(default)]
    pub citations: Vec<CitedSource>,
    pub model: String,
    pub delivery: DeliveryReceipt,
}

/// Upstream event `QuestionAsked`: starts the answer workflow (Standard).
pub type QuestionAsked = AnswerRequest;

/// Event `AnswerReady`: an inference result for output to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerReady {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub request_id: String,
    pub result: InferenceResponse,
    pub destination: Destination,
}

/// Event `AnswerFailed`: the workflow's failure branch, with the step that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerFailed {
    #[serde(default)]
    pub schema_version: V1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub step: String,
    pub error: ErrorName,
    pub cause: String,
}
