//! The answer workflow's guardrail steps: a question before retrieval, an answer before
//! delivery, checked by infer (direct invoke `{"guardrail": GuardrailCheck}`).
//!
//! What passes comes back as a [`GuardrailVerdict`], masked where a policy masks; what a
//! policy blocks is the error `Seams.GuardrailIntervened`, naming the policies and never the
//! text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::infer::InferenceOutput;
use crate::{CorrelationId, V1};

/// Which side of the model the content is on (Bedrock's `INPUT` and `OUTPUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailStage {
    Question,
    Answer,
}

impl GuardrailStage {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailStage::Question => "question",
            GuardrailStage::Answer => "answer",
        }
    }
}

/// A question or answer to check: `{"text": …}`, or a structured answer `{"json": …}` whose
/// strings are checked one by one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailCheck {
    #[serde(default)]
    pub schema_version: V1,
    pub stage: GuardrailStage,
    pub content: InferenceOutput,
}

/// The payload infer's direct invoke takes for a check: `{"guardrail": GuardrailCheck}`, with
/// the `correlation_id` every direct invoke may carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailInvoke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub guardrail: GuardrailCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailAction {
    /// Nothing fired; the content is as sent.
    None,
    /// A masking policy fired; the content has placeholders (`{EMAIL}`, …) in place of what
    /// it found.
    Masked,
}

/// What passed the guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuardrailVerdict {
    #[serde(default)]
    pub schema_version: V1,
    pub action: GuardrailAction,
    /// The content to carry on with (masked when `action` is `masked`).
    pub content: InferenceOutput,
    /// The policies that fired (`pii.email`, `deny_list`, a Bedrock policy name…).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Which guardrail checked: `offline` or `bedrock`.
    pub guardrail: String,
}
