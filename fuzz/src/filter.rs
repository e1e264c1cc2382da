//! Retrieval filters: Bedrock's `RetrievalFilter` JSON (or a plain equality map), compiled
//! and translated to PostgreSQL, and evaluated in memory as the embedded index does.

use retrieve::filter::Predicate;
use retrieve::postgres::filter_condition;
use seams_contracts::retrieve::Filter;
use serde_json::{json, Value};

/// The only quoted text the translation writes itself; any other quote came from a caller.
const OWN_LITERALS: [&str; 4] = ["'number'", "'string'", "'array'", "'{}'"];

/// Target `filter`: whatever compiles becomes SQL whose every value is a bind parameter.
pub fn compile_and_translate(data: &[u8]) {
    let Ok(filter) = serde_json::from_slice::<Filter>(data) else { return };
    let Ok(predicate) = Predicate::compile(&filter, "filter") else { return };
    let (sql, parameters) = filter_condition(&predicate);
    let mut unquoted = sql.clone();
    for literal in OWN_LITERALS {
        unquoted = unquoted.replace(literal, "");
    }
    assert!(!unquoted.contains('\''), "a caller's text reached the SQL: {sql}");
    let mut used = placeholders(&sql);
    used.sort_unstable();
    used.dedup();
    assert_eq!(used, (1..=parameters).collect::<Vec<_>>(), "placeholders and parameters disagree: {sql}");
    for metadata in sample_metadata() {
        predicate.matches(&metadata);
    }
}

/// The `$n` placeholders in `sql`, in order.
fn placeholders(sql: &str) -> Vec<usize> {
    sql.split('$').skip(1).filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()).collect()
}

fn sample_metadata() -> Vec<serde_json::Map<String, Value>> {
    [json!({}), json!({"a": 1, "b": "x", "c": [1, "x"], "d": null, "e": true, "f": 2.5, "g": {"h": 1}})]
        .into_iter()
        .filter_map(|value| value.as_object().cloned())
        .collect()
}
