//! Filters inferred from the question in the answer workflow: infer proposes a filter over the
//! attributes the operator declares and joins it with the caller's (direct invoke
//! `{"implicit_filter": ImplicitFilterRequest}`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::retrieve::{Filter, RetrievalFilter};
use crate::CorrelationId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImplicitFilterRequest {
    pub question: String,
    /// The caller's own filters, which the inferred one can only narrow.
    #[serde(default)]
    pub filters: Option<Filter>,
}

/// infer's direct-invoke payload for an implicit filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImplicitFilterInvoke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub implicit_filter: ImplicitFilterRequest,
}

/// The filters to retrieve with, and what was inferred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FiltersInferred {
    /// The caller's filters joined (`andAll`) with the proposal, when one held.
    pub filters: Option<Filter>,
    /// The filter inferred from the question, when one was and it held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed: Option<RetrievalFilter>,
    /// Why a proposal was dropped, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}
