//! `POST /retrieve`: the seed's request, its filters and the ranked response.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{de, Deserialize, Deserializer, Serialize};

use crate::{AttributeValue, CorrelationId, V1};

/// How to rank: by embedding similarity, by keyword relevance (BM25), or both fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Vector,
    Keyword,
    #[default]
    Hybrid,
}

/// `POST /retrieve`, accepted exactly as the seed shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    #[serde(default)]
    pub schema_version: V1,
    #[schemars(pattern(crate::common::NOT_BLANK_PATTERN))]
    pub query: String,
    /// 1 to 100.
    #[serde(default = "default_top_k", deserialize_with = "top_k_or_default")]
    #[schemars(range(min = 1, max = 100))]
    pub top_k: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filter>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub search_mode: SearchMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    #[serde(default)]
    pub include_embeddings: bool,
    /// Reorder the search's first candidates with the deployment's reranking model; unset,
    /// the deployment's default (`SEAMS_RERANK`) applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank: Option<bool>,
    /// Set by a state machine's direct invoke (HTTP callers use `x-correlation-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    /// Search only this tenant's documents: set by the answer workflow's direct invoke for a
    /// tenant's question. Over HTTP the caller's token decides and a body may not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The most bytes the results may take as JSON: the best-ranked results that fit are
    /// returned, the rest counted in the response's `left_out`; a result that fits only
    /// without its metadata comes without it (`metadata_left_out`). The answer workflow sets
    /// it, since Step Functions holds at most 256 KiB in a state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
}

pub const DEFAULT_TOP_K: u32 = 5;

fn default_top_k() -> u32 {
    DEFAULT_TOP_K
}

// `null` is the default too: the answer workflow passes on a question's explicit `null`
// (`"search_mode": null` is a valid `POST /answer`), which failed its Retrieve step.
fn top_k_or_default<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(deserializer)?.unwrap_or(DEFAULT_TOP_K))
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `andAll` / `orAll` may nest this deep; retrieve refuses deeper filters.
pub const MAX_FILTER_DEPTH: usize = 5;

/// Attribute tests in one filter, at most. Each is a condition PostgreSQL plans and every
/// candidate chunk evaluates, with two bind parameters: past 32,767 tests a query cannot be
/// sent at all, and long before that a search takes seconds. A long list of values is one
/// `in` test.
pub const MAX_FILTER_TESTS: usize = 100;

/// Values in one `in` / `notIn` list, at most.
pub const MAX_FILTER_VALUES: usize = 1_000;

/// A filter over chunk metadata and document attributes, in either of two forms:
/// the seed's shorthand (`{"category": "policy"}`, equality on every key) or Bedrock
/// Knowledge Bases' `RetrievalFilter` (`{"equals": {"key": "category", "value": "policy"}}`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Filter {
    Expression(RetrievalFilter),
    Equality(BTreeMap<String, AttributeValue>),
}

/// Bedrock Knowledge Bases' `RetrievalFilter` JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum RetrievalFilter {
    Equals(FilterAttribute),
    NotEquals(FilterAttribute),
    GreaterThan(FilterAttribute),
    GreaterThanOrEquals(FilterAttribute),
    LessThan(FilterAttribute),
    LessThanOrEquals(FilterAttribute),
    In(FilterAttribute),
    NotIn(FilterAttribute),
    StartsWith(FilterAttribute),
    ListContains(FilterAttribute),
    StringContains(FilterAttribute),
    AndAll(Vec<RetrievalFilter>),
    OrAll(Vec<RetrievalFilter>),
}

impl Filter {
    /// How many attribute tests it holds (a shorthand's keys are one each), for
    /// [`MAX_FILTER_TESTS`].
    pub fn tests(&self) -> usize {
        match self {
            Filter::Expression(expression) => expression.tests(),
            Filter::Equality(pairs) => pairs.len(),
        }
    }

    /// How many levels of `andAll` / `orAll` it nests, for [`MAX_FILTER_DEPTH`].
    pub fn depth(&self) -> usize {
        match self {
            Filter::Expression(expression) => expression.depth(),
            Filter::Equality(_) => 0,
        }
    }
}

impl RetrievalFilter {
    /// How many attribute tests it holds.
    pub fn tests(&self) -> usize {
        match self {
            RetrievalFilter::AndAll(parts) | RetrievalFilter::OrAll(parts) => parts.iter().map(Self::tests).sum(),
            _ => 1,
        }
    }

    /// How many levels of `andAll` / `orAll` it nests.
    pub fn depth(&self) -> usize {
        match self {
            RetrievalFilter::AndAll(parts) | RetrievalFilter::OrAll(parts) => {
                1 + parts.iter().map(Self::depth).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// The operator names of the expression form: an object with one of these as its only
    /// key is read as an expression (and must be a valid one), anything else as shorthand.
    pub const OPERATORS: [&'static str; 13] = [
        "equals",
        "notEquals",
        "greaterThan",
        "greaterThanOrEquals",
        "lessThan",
        "lessThanOrEquals",
        "in",
        "notIn",
        "startsWith",
        "listContains",
        "stringContains",
        "andAll",
        "orAll",
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterAttribute {
    pub key: String,
    pub value: serde_json::Value,
}

impl<'de> Deserialize<'de> for Filter {
    // Decided by shape rather than `untagged`, so a malformed expression reports its own
    // error instead of "did not match any variant".
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let is_expression = matches!(&value, serde_json::Value::Object(map)
            if map.len() == 1 && map.keys().all(|k| RetrievalFilter::OPERATORS.contains(&k.as_str())));
        if is_expression {
            let operator = value.as_object().and_then(|m| m.keys().next().cloned()).unwrap_or_default();
            serde_json::from_value(value)
                .map(Filter::Expression)
                .map_err(|e| de::Error::custom(format!("invalid {operator} filter: {e}")))
        } else {
            serde_json::from_value(value).map(Filter::Equality).map_err(de::Error::custom)
        }
    }
}

/// Where a chunk came from, for citing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Citation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub heading_path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

/// A chunk's 1-based rank in each list that was fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Ranks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetrievedChunk {
    pub document_id: String,
    pub version: u32,
    /// The chunk that matched.
    pub chunk_id: String,
    /// Hierarchical chunking: the parent chunk whose text `text` is, returned once however
    /// many of its children matched (`chunk_id` is the best of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_chunk_id: Option<String>,
    pub text: String,
    pub score: f64,
    pub ranks: Ranks,
    /// The reranking model's relevance score (0 to 1), when the results were reranked;
    /// they are then in this order and `score` is the search's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank_score: Option<f64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, AttributeValue>,
    pub citation: Citation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetrieveResponse {
    #[serde(default)]
    pub schema_version: V1,
    pub results: Vec<RetrievedChunk>,
    pub search_mode: SearchMode,
    pub embedding_model: String,
    /// The model that reordered the results, when they were reranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank_model: Option<String>,
    /// Results left out to keep within the request's `max_bytes`, the lowest-ranked.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out: u32,
    /// Results returned without their metadata to keep within `max_bytes`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub metadata_left_out: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the answer workflow sends for a question that gave `null` for them.
    #[test]
    fn null_top_k_and_search_mode_are_their_defaults() {
        let request: RetrieveRequest =
            serde_json::from_str(r#"{"query": "refunds", "top_k": null, "search_mode": null}"#).unwrap();
        assert_eq!((request.top_k, request.search_mode), (DEFAULT_TOP_K, SearchMode::default()));
    }

    #[test]
    fn the_seed_request_is_accepted_as_written() {
        let request: RetrieveRequest = serde_json::from_str(
            r#"{"query": "What is our refund policy for digital products?", "top_k": 5,
                "filters": {"category": "policy"}, "search_mode": "hybrid"}"#,
        )
        .unwrap();
        assert_eq!(request.top_k, 5);
        assert_eq!(request.search_mode, SearchMode::Hybrid);
        let expected = BTreeMap::from([("category".to_owned(), AttributeValue::String("policy".into()))]);
        assert_eq!(request.filters, Some(Filter::Equality(expected)));
    }

    #[test]
    fn bedrock_filters_nest() {
        let filter: Filter = serde_json::from_str(
            r#"{"andAll": [{"equals": {"key": "category", "value": "policy"}},
                           {"orAll": [{"in": {"key": "year", "value": [2024, 2025]}},
                                      {"startsWith": {"key": "team", "value": "fin"}}]}]}"#,
        )
        .unwrap();
        let Filter::Expression(RetrievalFilter::AndAll(parts)) = filter else {
            panic!("expected andAll, got {filter:?}");
        };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[1], RetrievalFilter::OrAll(inner) if inner.len() == 2));
    }

    #[test]
    fn a_malformed_expression_reports_its_own_error() {
        let error = serde_json::from_str::<Filter>(r#"{"equals": {"key": "category"}}"#).unwrap_err();
        assert!(error.to_string().contains("missing field `value`"), "{error}");
    }

    #[test]
    fn an_unknown_search_mode_is_refused() {
        let error =
            serde_json::from_str::<RetrieveRequest>(r#"{"query": "q", "search_mode": "semantic"}"#).unwrap_err();
        assert!(error.to_string().contains("unknown variant `semantic`"), "{error}");
    }

    #[test]
    fn top_k_and_mode_have_defaults() {
        let request: RetrieveRequest = serde_json::from_str(r#"{"query": "q"}"#).unwrap();
        assert_eq!((request.top_k, request.search_mode), (DEFAULT_TOP_K, SearchMode::Hybrid));
    }
}
