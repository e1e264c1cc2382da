//! Filters over chunk metadata: the request's [`Filter`] (seed shorthand or Bedrock's
//! `RetrievalFilter`) checked once into a [`Predicate`], which the embedded index evaluates
//! here and the PostgreSQL index translates to SQL with the same meaning.
//!
//! Semantics, shared by both backends: a missing attribute matches only `notEquals` and
//! `notIn`; numbers compare as numbers (`2024` equals `2024.0`); ordering operators take a
//! number and match numeric attributes only; `startsWith` matches string attributes;
//! `listContains` matches list attributes with an equal member; `stringContains` matches a
//! string attribute containing the value, or a list with such a member.

use seams_contracts::retrieve::{FilterAttribute, RetrievalFilter};
pub use seams_contracts::retrieve::{
    MAX_FILTER_DEPTH as MAX_DEPTH, MAX_FILTER_TESTS as MAX_TESTS, MAX_FILTER_VALUES as MAX_VALUES,
};
use seams_contracts::{retrieve::Filter, AttributeValue};
use serde_json::Value;

/// A value an attribute is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Number(f64),
    String(String),
}

impl Scalar {
    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Scalar::Number),
            Value::String(s) => Some(Scalar::String(s.clone())),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Scalar::String(s) => Value::String(s.clone()),
        }
    }

    /// Equality as JSON values compare: numbers numerically, no coercion between types.
    fn matches(&self, attribute: &Value) -> bool {
        match (self, attribute) {
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            (Scalar::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (Scalar::String(a), Value::String(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    pub fn sql(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }

    fn holds(self, attribute: f64, value: f64) -> bool {
        match self {
            Comparison::Greater => attribute > value,
            Comparison::GreaterOrEqual => attribute >= value,
            Comparison::Less => attribute < value,
            Comparison::LessOrEqual => attribute <= value,
        }
    }
}

/// One test of one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Equals(Scalar),
    NotEquals(Scalar),
    Compare(Comparison, f64),
    In(Vec<Scalar>),
    NotIn(Vec<Scalar>),
    StartsWith(String),
    ListContains(Scalar),
    StringContains(String),
}

/// A checked filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Attribute { key: String, test: Test },
}

/// Why a filter was refused, and where (`filters.andAll[1].in.value`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FilterError {
    pub field: String,
    pub reason: String,
}

fn refuse(field: String, reason: impl Into<String>) -> FilterError {
    FilterError { field, reason: reason.into() }
}

impl Predicate {
    /// Checks a request's filter. `field` is where it sits in the request (`filters`).
    pub fn compile(filter: &Filter, field: &str) -> Result<Self, FilterError> {
        let predicate = match filter {
            Filter::Equality(pairs) => pairs
                .iter()
                .map(|(key, value)| {
                    let at = format!("{field}.{key}");
                    check_key(key, &at)?;
                    let scalar = match value {
                        AttributeValue::Bool(b) => Scalar::Bool(*b),
                        AttributeValue::Number(n) => Scalar::Number(*n),
                        AttributeValue::String(s) => {
                            check_text(s, &at)?;
                            Scalar::String(s.clone())
                        }
                        AttributeValue::StringList(_) => {
                            return Err(refuse(at, "the shorthand compares one value per key; use `in` for a list"))
                        }
                    };
                    Ok(Predicate::Attribute { key: key.clone(), test: Test::Equals(scalar) })
                })
                .collect::<Result<_, _>>()
                .map(Predicate::All),
            Filter::Expression(expression) => compile_expression(expression, field, 0),
        }?;
        let tests = filter.tests();
        if tests > MAX_TESTS {
            return Err(refuse(
                field.to_owned(),
                format!(
                    "{tests} attribute tests; a filter holds at most {MAX_TESTS} (a list of values is one `in` test)"
                ),
            ));
        }
        Ok(predicate)
    }

    /// Whether a chunk whose metadata is `metadata` (a JSON object) passes.
    pub fn matches(&self, metadata: &serde_json::Map<String, Value>) -> bool {
        match self {
            Predicate::All(parts) => parts.iter().all(|p| p.matches(metadata)),
            Predicate::Any(parts) => parts.iter().any(|p| p.matches(metadata)),
            Predicate::Attribute { key, test } => test.matches(metadata.get(key)),
        }
    }
}

impl Test {
    fn matches(&self, attribute: Option<&Value>) -> bool {
        let Some(attribute) = attribute else {
            return matches!(self, Test::NotEquals(_) | Test::NotIn(_));
        };
        match self {
            Test::Equals(value) => value.matches(attribute),
            Test::NotEquals(value) => !value.matches(attribute),
            Test::Compare(comparison, value) => attribute.as_f64().is_some_and(|a| comparison.holds(a, *value)),
            Test::In(values) => values.iter().any(|v| v.matches(attribute)),
            Test::NotIn(values) => !values.iter().any(|v| v.matches(attribute)),
            Test::StartsWith(prefix) => attribute.as_str().is_some_and(|s| s.starts_with(prefix.as_str())),
            Test::ListContains(value) => attribute.as_array().is_some_and(|list| list.iter().any(|m| value.matches(m))),
            Test::StringContains(needle) => match attribute {
                Value::String(s) => s.contains(needle.as_str()),
                Value::Array(list) => list.iter().any(|m| m.as_str().is_some_and(|s| s.contains(needle.as_str()))),
                _ => false,
            },
        }
    }
}

fn check_key(key: &str, field: &str) -> Result<(), FilterError> {
    if key.trim().is_empty() {
        return Err(refuse(field.to_owned(), "the attribute key is empty"));
    }
    check_text(key, field)
}

/// No attribute holds a NUL (ingest refuses one, process removes it), and PostgreSQL refuses
/// one in a query: refused here, the same on both backends.
fn check_text(text: &str, field: &str) -> Result<(), FilterError> {
    if text.contains('\0') {
        return Err(refuse(field.to_owned(), "contains NUL (U+0000), which no attribute holds"));
    }
    Ok(())
}

fn compile_expression(expression: &RetrievalFilter, field: &str, depth: usize) -> Result<Predicate, FilterError> {
    use RetrievalFilter as F;
    let attribute = |name: &str, attribute: &FilterAttribute, test: fn(&Value, &str) -> Result<Test, FilterError>| {
        let at = format!("{field}.{name}");
        check_key(&attribute.key, &format!("{at}.key"))?;
        Ok(Predicate::Attribute { key: attribute.key.clone(), test: test(&attribute.value, &format!("{at}.value"))? })
    };
    match expression {
        F::Equals(a) => attribute("equals", a, |v, at| scalar(v, at).map(Test::Equals)),
        F::NotEquals(a) => attribute("notEquals", a, |v, at| scalar(v, at).map(Test::NotEquals)),
        F::GreaterThan(a) => {
            attribute("greaterThan", a, |v, at| number(v, at).map(|n| Test::Compare(Comparison::Greater, n)))
        }
        F::GreaterThanOrEquals(a) => attribute("greaterThanOrEquals", a, |v, at| {
            number(v, at).map(|n| Test::Compare(Comparison::GreaterOrEqual, n))
        }),
        F::LessThan(a) => attribute("lessThan", a, |v, at| number(v, at).map(|n| Test::Compare(Comparison::Less, n))),
        F::LessThanOrEquals(a) => {
            attribute("lessThanOrEquals", a, |v, at| number(v, at).map(|n| Test::Compare(Comparison::LessOrEqual, n)))
        }
        F::In(a) => attribute("in", a, |v, at| scalars(v, at).map(Test::In)),
        F::NotIn(a) => attribute("notIn", a, |v, at| scalars(v, at).map(Test::NotIn)),
        F::StartsWith(a) => attribute("startsWith", a, |v, at| string(v, at).map(Test::StartsWith)),
        F::ListContains(a) => attribute("listContains", a, |v, at| scalar(v, at).map(Test::ListContains)),
        F::StringContains(a) => attribute("stringContains", a, |v, at| string(v, at).map(Test::StringContains)),
        F::AndAll(parts) => group("andAll", parts, field, depth).map(Predicate::All),
        F::OrAll(parts) => group("orAll", parts, field, depth).map(Predicate::Any),
    }
}

fn group(name: &str, parts: &[RetrievalFilter], field: &str, depth: usize) -> Result<Vec<Predicate>, FilterError> {
    let at = format!("{field}.{name}");
    if depth + 1 > MAX_DEPTH {
        return Err(refuse(at, format!("filters may nest at most {MAX_DEPTH} levels of andAll/orAll")));
    }
    if parts.is_empty() {
        return Err(refuse(at, "needs at least one filter"));
    }
    parts.iter().enumerate().map(|(i, part)| compile_expression(part, &format!("{at}[{i}]"), depth + 1)).collect()
}

fn scalar(value: &Value, field: &str) -> Result<Scalar, FilterError> {
    let scalar =
        Scalar::from_json(value).ok_or_else(|| refuse(field.to_owned(), "expected a string, number or boolean"))?;
    if let Scalar::String(text) = &scalar {
        check_text(text, field)?;
    }
    Ok(scalar)
}

fn number(value: &Value, field: &str) -> Result<f64, FilterError> {
    value.as_f64().ok_or_else(|| refuse(field.to_owned(), "expected a number"))
}

fn string(value: &Value, field: &str) -> Result<String, FilterError> {
    let text = value.as_str().ok_or_else(|| refuse(field.to_owned(), "expected a string"))?;
    check_text(text, field)?;
    Ok(text.to_owned())
}

fn scalars(value: &Value, field: &str) -> Result<Vec<Scalar>, FilterError> {
    let list = value.as_array().ok_or_else(|| refuse(field.to_owned(), "expected a list"))?;
    if list.is_empty() {
        return Err(refuse(field.to_owned(), "expected a non-empty list"));
    }
    if list.len() > MAX_VALUES {
        return Err(refuse(field.to_owned(), format!("{} values; a list holds at most {MAX_VALUES}", list.len())));
    }
    list.iter().enumerate().map(|(i, v)| scalar(v, &format!("{field}[{i}]"))).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compile(filter: Value) -> Result<Predicate, FilterError> {
        Predicate::compile(&serde_json::from_value(filter).unwrap(), "filters")
    }

    fn metadata(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn every_operator_means_what_bedrock_says() {
        let doc = metadata(json!({"category": "policy", "year": 2024, "team": "finance",
                                  "tags": ["refund", "digital goods"], "draft": false}));
        let cases = [
            (json!({"equals": {"key": "category", "value": "policy"}}), true),
            (json!({"equals": {"key": "year", "value": 2024.0}}), true),
            (json!({"equals": {"key": "year", "value": "2024"}}), false),
            (json!({"notEquals": {"key": "category", "value": "policy"}}), false),
            (json!({"notEquals": {"key": "missing", "value": "x"}}), true),
            (json!({"greaterThan": {"key": "year", "value": 2023}}), true),
            (json!({"greaterThan": {"key": "year", "value": 2024}}), false),
            (json!({"greaterThanOrEquals": {"key": "year", "value": 2024}}), true),
            (json!({"lessThan": {"key": "year", "value": 2024}}), false),
            (json!({"lessThanOrEquals": {"key": "year", "value": 2024}}), true),
            (json!({"lessThan": {"key": "category", "value": 5}}), false),
            (json!({"in": {"key": "team", "value": ["ops", "finance"]}}), true),
            (json!({"notIn": {"key": "team", "value": ["ops", "finance"]}}), false),
            (json!({"notIn": {"key": "missing", "value": ["ops"]}}), true),
            (json!({"startsWith": {"key": "team", "value": "fin"}}), true),
            (json!({"startsWith": {"key": "year", "value": "20"}}), false),
            (json!({"listContains": {"key": "tags", "value": "refund"}}), true),
            (json!({"listContains": {"key": "category", "value": "policy"}}), false),
            (json!({"stringContains": {"key": "category", "value": "lic"}}), true),
            (json!({"stringContains": {"key": "tags", "value": "digital"}}), true),
            (json!({"stringContains": {"key": "tags", "value": "physical"}}), false),
            (json!({"equals": {"key": "draft", "value": false}}), true),
            (
                json!({"andAll": [{"equals": {"key": "category", "value": "policy"}},
                               {"lessThan": {"key": "year", "value": 2000}}]}),
                false,
            ),
            (
                json!({"orAll": [{"equals": {"key": "category", "value": "faq"}},
                              {"listContains": {"key": "tags", "value": "refund"}}]}),
                true,
            ),
            (json!({"category": "policy", "team": "finance"}), true),
            (json!({"category": "policy", "team": "ops"}), false),
        ];
        for (filter, expected) in cases {
            assert_eq!(compile(filter.clone()).unwrap().matches(&doc), expected, "{filter}");
        }
    }

    #[test]
    fn a_malformed_filter_is_refused_where_it_is_wrong() {
        let cases = [
            (json!({"greaterThan": {"key": "year", "value": "2024"}}), "filters.greaterThan.value"),
            (json!({"andAll": [{"in": {"key": "team", "value": "ops"}}]}), "filters.andAll[0].in.value"),
            (json!({"orAll": [{"in": {"key": "team", "value": []}}]}), "filters.orAll[0].in.value"),
            (json!({"in": {"key": "team", "value": [["nested"]]}}), "filters.in.value[0]"),
            (json!({"equals": {"key": " ", "value": 1}}), "filters.equals.key"),
            (json!({"andAll": []}), "filters.andAll"),
            (json!({"tags": ["a", "b"]}), "filters.tags"),
            (json!({"equals": {"key": "a\0", "value": 1}}), "filters.equals.key"),
            (json!({"in": {"key": "a", "value": ["x", "y\0"]}}), "filters.in.value[1]"),
            (json!({"startsWith": {"key": "a", "value": "\0"}}), "filters.startsWith.value"),
            (json!({"team": "ops\0"}), "filters.team"),
        ];
        for (filter, field) in cases {
            assert_eq!(compile(filter.clone()).unwrap_err().field, field, "{filter}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let mut filter = json!({"equals": {"key": "a", "value": 1}});
        for _ in 0..MAX_DEPTH {
            filter = json!({"andAll": [filter]});
        }
        assert!(compile(filter.clone()).is_ok());
        let error = compile(json!({"orAll": [filter]})).unwrap_err();
        assert!(error.reason.contains("at most 5 levels"), "{error}");
    }

    #[test]
    fn size_is_bounded() {
        let equals = |i: usize| json!({"equals": {"key": format!("k{i}"), "value": i}});
        let most: Vec<Value> = (0..MAX_TESTS).map(equals).collect();
        let Predicate::Any(tests) = compile(json!({"orAll": most.clone()})).unwrap() else { panic!("an orAll") };
        assert_eq!(tests.len(), MAX_TESTS);
        let nested = json!({"andAll": [{"orAll": most}, {"notIn": {"key": "x", "value": [1]}}]});
        let error = compile(nested).unwrap_err();
        assert_eq!(error.field, "filters");
        assert!(error.reason.contains("101 attribute tests; a filter holds at most 100"), "{error}");
        let shorthand: serde_json::Map<String, Value> = (0..=MAX_TESTS).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(compile(Value::Object(shorthand)).unwrap_err().reason.contains("at most 100"));
        let values: Vec<usize> = (0..=MAX_VALUES).collect();
        let error = compile(json!({"in": {"key": "id", "value": values}})).unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.reason.as_str()),
            ("filters.in.value", "1001 values; a list holds at most 1000")
        );
        assert!(compile(json!({"notIn": {"key": "id", "value": values[1..]}})).is_ok());
    }
}
