//! Filters inferred from the question over the attributes the operator declares
//! (`SEAMS_FILTER_ATTRIBUTES`). A model provider proposes a `RetrievalFilter`; offline, a
//! declared value the question names is proposed. A proposal is checked against the
//! declaration before use, dropped (and logged) when it does not hold or when joining it would
//! pass retrieve's filter limits, and joined with the caller's own filters by `andAll`: it can
//! narrow what the caller asked for, never widen it.

use std::collections::BTreeSet;

use seams_contracts::retrieve::{
    Filter, FilterAttribute, RetrievalFilter, MAX_FILTER_DEPTH, MAX_FILTER_TESTS, MAX_FILTER_VALUES,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::offline;
use crate::prompt::Prompt;

/// The kind of value a declared attribute holds, as documents carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    String,
    Number,
    Boolean,
    StringList,
}

/// One attribute a filter may be inferred over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredAttribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    pub description: String,
    /// The only values a filter may name (any value of the type when empty).
    #[serde(default)]
    pub values: Vec<Value>,
}

/// Why a proposal was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} is not a declared attribute")]
    Undeclared(String),
    #[error("{operator} does not apply to {attribute} ({kind:?})")]
    Operator { operator: &'static str, attribute: String, kind: AttributeType },
    #[error("{value} is not a value {attribute} may have")]
    Value { attribute: String, value: String },
    #[error("not a filter: {0}")]
    Grammar(String),
    #[error("too large: {0}")]
    Limits(String),
}

/// Checks a proposal against the declaration: every attribute declared, every operator one
/// its type supports, every value of its type and among its allowed values.
pub fn check(filter: &RetrievalFilter, declared: &[DeclaredAttribute]) -> Result<(), Refused> {
    use RetrievalFilter as F;
    let (operator, leaf) = match filter {
        F::AndAll(parts) | F::OrAll(parts) if parts.is_empty() => {
            return Err(Refused::Grammar("andAll and orAll need at least one filter".into()))
        }
        F::AndAll(parts) | F::OrAll(parts) => return parts.iter().try_for_each(|part| check(part, declared)),
        F::Equals(a) => ("equals", a),
        F::NotEquals(a) => ("notEquals", a),
        F::GreaterThan(a) => ("greaterThan", a),
        F::GreaterThanOrEquals(a) => ("greaterThanOrEquals", a),
        F::LessThan(a) => ("lessThan", a),
        F::LessThanOrEquals(a) => ("lessThanOrEquals", a),
        F::In(a) => ("in", a),
        F::NotIn(a) => ("notIn", a),
        F::StartsWith(a) => ("startsWith", a),
        F::ListContains(a) => ("listContains", a),
        F::StringContains(a) => ("stringContains", a),
    };
    let attribute =
        declared.iter().find(|d| d.name == leaf.key).ok_or_else(|| Refused::Undeclared(leaf.key.clone()))?;
    let applies = match attribute.kind {
        AttributeType::String => {
            matches!(operator, "equals" | "notEquals" | "in" | "notIn" | "startsWith" | "stringContains")
        }
        AttributeType::Number => !matches!(operator, "startsWith" | "stringContains" | "listContains"),
        AttributeType::Boolean => matches!(operator, "equals" | "notEquals"),
        AttributeType::StringList => matches!(operator, "listContains"),
    };
    if !applies {
        return Err(Refused::Operator { operator, attribute: leaf.key.clone(), kind: attribute.kind });
    }
    let values: Vec<&Value> = match (operator, &leaf.value) {
        ("in" | "notIn", Value::Array(values)) if values.len() > MAX_FILTER_VALUES => {
            return Err(Refused::Limits(format!(
                "{operator} lists {} values, at most {MAX_FILTER_VALUES}",
                values.len()
            )))
        }
        ("in" | "notIn", Value::Array(values)) if !values.is_empty() => values.iter().collect(),
        ("in" | "notIn", _) => return Err(Refused::Grammar(format!("{operator} takes a non-empty list"))),
        (_, value) => vec![value],
    };
    for value in values {
        let typed = match attribute.kind {
            AttributeType::String | AttributeType::StringList => value.is_string(),
            AttributeType::Number => value.is_number(),
            AttributeType::Boolean => value.is_boolean(),
        };
        let partial = matches!(operator, "startsWith" | "stringContains");
        let allowed = attribute.values.is_empty() || partial || attribute.values.contains(value);
        if !typed || !allowed {
            return Err(Refused::Value { attribute: leaf.key.clone(), value: value.to_string() });
        }
    }
    Ok(())
}

/// The offline proposal: for each declared attribute with values, the values the question
/// names (a plural `s` aside), as `equals` (one) or `in` (several); several attributes are
/// joined by `andAll`. `None` when the question names none.
pub fn propose_offline(question: &str, declared: &[DeclaredAttribute]) -> Option<RetrievalFilter> {
    let asked: BTreeSet<String> = offline::terms(question).into_iter().collect();
    let mut parts: Vec<RetrievalFilter> = Vec::new();
    for attribute in declared {
        let named: Vec<Value> = attribute
            .values
            .iter()
            .filter(|value| {
                let words = value.as_str().map(offline::terms).unwrap_or_default();
                !words.is_empty() && words.iter().all(|w| asked.contains(w))
            })
            .cloned()
            .collect();
        let key = attribute.name.clone();
        match named.len() {
            0 => {}
            1 => parts.push(RetrievalFilter::Equals(FilterAttribute { key, value: named[0].clone() })),
            _ => parts.push(RetrievalFilter::In(FilterAttribute { key, value: Value::Array(named) })),
        }
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(RetrievalFilter::AndAll(parts)),
    }
}

/// How the model is asked for a filter.
pub fn prompt(question: &str, declared: &[DeclaredAttribute]) -> Prompt {
    let attributes = serde_json::to_string(declared).unwrap_or_default();
    let system = "You infer a metadata filter for a document search from a question. Use only the \
        attributes declared, their types and their allowed values. Reply with one JSON object in the \
        filter grammar ({\"equals\": {\"key\": …, \"value\": …}}, notEquals, greaterThan, \
        greaterThanOrEquals, lessThan, lessThanOrEquals, in, notIn, startsWith, listContains, \
        stringContains, andAll: [...], orAll: [...]) and nothing else, or null when the question \
        implies no filter."
        .to_owned();
    Prompt {
        system,
        user: format!("<attributes>{attributes}</attributes>\n<question>{question}</question>"),
        passages: Vec::new(),
        truncated: Vec::new(),
        instructions: question.to_owned(),
    }
}

/// The model's reply as a proposal: `None` for `null`; the grammar's error otherwise.
pub fn from_reply(reply: &str) -> Result<Option<RetrievalFilter>, Refused> {
    let text = reply.trim().trim_start_matches("```json").trim_start_matches("```").trim_end_matches("```").trim();
    let value: Value = serde_json::from_str(text).map_err(|e| Refused::Grammar(e.to_string()))?;
    if value.is_null() {
        return Ok(None);
    }
    serde_json::from_value(value).map(Some).map_err(|e| Refused::Grammar(e.to_string()))
}

/// The caller's filters with the proposal joined by `andAll` (the proposal alone when the
/// caller gave none). An `andAll` on either side is opened into the join rather than nested
/// in it, so joining adds no level. Refused when the join would pass retrieve's limits, which
/// would fail the whole question rather than just the proposal.
pub fn join(callers: Option<Filter>, proposal: RetrievalFilter) -> Result<Filter, Refused> {
    let joined = match callers {
        None => Filter::Expression(proposal),
        Some(callers) => {
            let mut parts = match callers {
                Filter::Expression(RetrievalFilter::AndAll(parts)) => parts,
                Filter::Expression(expression) => vec![expression],
                Filter::Equality(pairs) => pairs
                    .into_iter()
                    .map(|(key, value)| {
                        RetrievalFilter::Equals(FilterAttribute {
                            key,
                            value: serde_json::to_value(value).unwrap_or_default(),
                        })
                    })
                    .collect(),
            };
            match proposal {
                RetrievalFilter::AndAll(proposed) => parts.extend(proposed),
                proposal => parts.push(proposal),
            }
            Filter::Expression(RetrievalFilter::AndAll(parts))
        }
    };
    let (tests, depth) = (joined.tests(), joined.depth());
    if tests > MAX_FILTER_TESTS || depth > MAX_FILTER_DEPTH {
        return Err(Refused::Limits(format!(
            "with the caller's filters it makes {tests} attribute tests nested {depth} levels deep; \
             retrieve takes at most {MAX_FILTER_TESTS} tests and {MAX_FILTER_DEPTH} levels"
        )));
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn declared() -> Vec<DeclaredAttribute> {
        serde_json::from_value(json!([
            {"name": "category", "type": "string", "description": "the handbook section",
             "values": ["policies", "engineering", "people", "products"]},
            {"name": "year", "type": "number", "description": "the year it applies to"},
            {"name": "tags", "type": "string_list", "description": "topics"}
        ]))
        .unwrap()
    }

    fn filter(value: Value) -> RetrievalFilter {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_proposal_is_checked_against_the_declaration() {
        let ok = [
            json!({"equals": {"key": "category", "value": "policies"}}),
            json!({"in": {"key": "category", "value": ["people", "products"]}}),
            json!({"andAll": [{"greaterThan": {"key": "year", "value": 2024}}, {"listContains": {"key": "tags", "value": "refunds"}}]}),
            json!({"startsWith": {"key": "category", "value": "eng"}}),
        ];
        for proposal in ok {
            assert_eq!(check(&filter(proposal.clone()), &declared()), Ok(()), "{proposal}");
        }
        let refused = [
            (json!({"equals": {"key": "tenant", "value": "acme"}}), "not a declared attribute"),
            (json!({"equals": {"key": "category", "value": "recipes"}}), "is not a value"),
            (json!({"greaterThan": {"key": "category", "value": "a"}}), "does not apply"),
            (json!({"equals": {"key": "year", "value": "2024"}}), "is not a value"),
            (json!({"in": {"key": "category", "value": []}}), "non-empty list"),
            (json!({"orAll": []}), "at least one"),
            (
                json!({"andAll": [{"equals": {"key": "category", "value": "policies"}}, {"equals": {"key": "x", "value": 1}}]}),
                "x is not",
            ),
        ];
        for (proposal, why) in refused {
            let error = check(&filter(proposal.clone()), &declared()).unwrap_err().to_string();
            assert!(error.contains(why), "{proposal}: {error}");
        }
    }

    #[test]
    fn offline_the_values_a_question_names_are_proposed() {
        let proposed = propose_offline("Which policies cover digital refunds?", &declared());
        assert_eq!(proposed, Some(filter(json!({"equals": {"key": "category", "value": "policies"}}))));
        let both = propose_offline("Onboarding for people in engineering", &declared());
        assert_eq!(both, Some(filter(json!({"in": {"key": "category", "value": ["engineering", "people"]}}))));
        assert_eq!(propose_offline("How long do refunds take?", &declared()), None);
    }

    #[test]
    fn a_models_reply_is_read_in_the_grammar() {
        let reply = "```json\n{\"equals\": {\"key\": \"category\", \"value\": \"policies\"}}\n```";
        assert_eq!(
            from_reply(reply).unwrap(),
            Some(filter(json!({"equals": {"key": "category", "value": "policies"}})))
        );
        assert_eq!(from_reply("null").unwrap(), None);
        assert!(matches!(from_reply("{\"like\": 1}"), Err(Refused::Grammar(_))));
        assert!(matches!(from_reply("category = policies"), Err(Refused::Grammar(_))));
    }

    #[test]
    fn the_proposal_narrows_the_callers_filters() {
        let proposal = filter(json!({"equals": {"key": "category", "value": "policies"}}));
        assert_eq!(join(None, proposal.clone()), Ok(Filter::Expression(proposal.clone())));
        let callers: Filter = serde_json::from_value(json!({"year": 2026})).unwrap();
        let joined = serde_json::to_value(join(Some(callers), proposal).unwrap()).unwrap();
        assert_eq!(
            joined,
            json!({"andAll": [{"equals": {"key": "year", "value": 2026.0}}, {"equals": {"key": "category", "value": "policies"}}]})
        );
    }

    /// `levels` of `orAll` around one test, with `tests` tests in all.
    fn nested(levels: usize, tests: usize) -> RetrievalFilter {
        let leaf = |i: usize| json!({"equals": {"key": format!("k{i}"), "value": i}});
        let mut value = json!({"orAll": (0..tests).map(leaf).collect::<Vec<_>>()});
        for _ in 1..levels {
            value = json!({"orAll": [value]});
        }
        filter(value)
    }

    #[test]
    fn joining_opens_an_and_all_rather_than_nesting_it() {
        let callers =
            filter(json!({"andAll": [{"equals": {"key": "a", "value": 1}}, {"equals": {"key": "b", "value": 2}}]}));
        let proposal =
            filter(json!({"andAll": [{"equals": {"key": "c", "value": 3}}, {"equals": {"key": "d", "value": 4}}]}));
        let joined = join(Some(Filter::Expression(callers)), proposal).unwrap();
        assert_eq!((joined.tests(), joined.depth()), (4, 1));
        let deepest = Filter::Expression(RetrievalFilter::AndAll(vec![nested(MAX_FILTER_DEPTH - 1, 1)]));
        let joined = join(Some(deepest), filter(json!({"equals": {"key": "c", "value": 3}})));
        assert_eq!(joined.map(|f| f.depth()), Ok(MAX_FILTER_DEPTH));
    }

    #[test]
    fn a_proposal_that_would_pass_retrieves_limits_is_refused() {
        let proposal = filter(json!({"equals": {"key": "category", "value": "policies"}}));
        let full = Filter::Expression(nested(1, MAX_FILTER_TESTS));
        assert!(matches!(join(Some(full), proposal.clone()), Err(Refused::Limits(_))));
        let almost = Filter::Expression(nested(1, MAX_FILTER_TESTS - 1));
        assert_eq!(join(Some(almost), proposal.clone()).map(|f| f.tests()), Ok(MAX_FILTER_TESTS));
        let deepest = Filter::Expression(nested(MAX_FILTER_DEPTH, 1));
        let refused = join(Some(deepest), proposal).unwrap_err().to_string();
        assert!(refused.contains("nested 6 levels deep"), "{refused}");
        let alone = join(None, nested(MAX_FILTER_DEPTH + 1, 1));
        assert!(matches!(alone, Err(Refused::Limits(_))), "a proposal too deep on its own");
        let years: Vec<usize> = (0..=MAX_FILTER_VALUES).collect();
        let long = filter(json!({"in": {"key": "year", "value": years}}));
        assert!(matches!(check(&long, &declared()), Err(Refused::Limits(_))));
        assert_eq!(check(&filter(json!({"in": {"key": "year", "value": years[1..]}})), &declared()), Ok(()));
    }
}
