//! Query decomposition in the answer workflow: infer splits a compound question into
//! sub-questions (direct invoke `{"decompose": DecomposeRequest}`), a Map state retrieves for
//! each, and retrieve merges what they found (`{"merge": MergeRequest}`), de-duplicated.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::retrieve::RetrievedChunk;
use crate::CorrelationId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecomposeRequest {
    pub question: String,
}

/// infer's direct-invoke payload for a decomposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecomposeInvoke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub decompose: DecomposeRequest,
}

/// The sub-questions, in the order asked: one (the question itself) when it asks one thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decomposed {
    pub questions: Vec<String>,
}

/// What one sub-question's retrieval found, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetrievedSet {
    pub results: Vec<RetrievedChunk>,
}

/// Merges the sub-questions' results into one list of at most `top_k` chunks (one per set
/// when there are more sets, so every part keeps its best chunk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    pub sets: Vec<RetrievedSet>,
    #[schemars(range(min = 1, max = 100))]
    pub top_k: u32,
}

/// retrieve's direct-invoke payload for a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInvoke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub merge: MergeRequest,
}

/// The merged chunks, best first, each once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Merged {
    pub results: Vec<RetrievedChunk>,
}
