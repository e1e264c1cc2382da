//! Choice rules: And, Or, Not, and the String, Numeric, Boolean and type comparisons (with
//! their `…Path` forms), evaluated against a state's input.

use serde_json::{json, Value};

use super::definition::Choice;
use super::path::Path;
use super::StateError;

/// The state a Choice goes to: the first rule that holds, else its Default.
pub fn choose(choice: &Choice, input: &Value) -> Result<String, StateError> {
    for rule in &choice.choices {
        if rule_holds(rule, input)? {
            return Ok(rule["Next"].as_str().unwrap_or_default().to_owned());
        }
    }
    choice
        .default
        .clone()
        .ok_or_else(|| StateError::new("States.NoChoiceMatched", "no choice rule matched and there is no Default"))
}

const COMPARISONS: [&str; 28] = [
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "StringEqualsPath",
    "StringLessThanPath",
    "StringGreaterThanPath",
    "StringLessThanEqualsPath",
    "StringGreaterThanEqualsPath",
    "NumericEqualsPath",
    "NumericLessThanPath",
    "NumericGreaterThanPath",
    "NumericLessThanEqualsPath",
    "NumericGreaterThanEqualsPath",
    "BooleanEqualsPath",
    "IsNull",
    "IsPresent",
    "IsString",
    "IsNumeric",
    "IsBoolean",
];

fn rule_holds(rule: &Value, input: &Value) -> Result<bool, StateError> {
    if let Some(all) = rule["And"].as_array() {
        for r in all {
            if !rule_holds(r, input)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = rule["Or"].as_array() {
        for r in any {
            if rule_holds(r, input)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(not) = rule.get("Not") {
        return rule_holds(not, input).map(|holds| !holds);
    }
    let variable = rule["Variable"].as_str().unwrap_or("$");
    let path = Path::parse(variable).map_err(StateError::runtime)?;
    let value = path.get(input, &Value::Null);
    if let Some(expected) = rule.get("IsPresent") {
        return Ok(value.is_some() == (expected == &json!(true)));
    }
    let value = value.ok_or_else(|| StateError::runtime(format!("Invalid path {variable}: not in the input")))?;
    let (operator, operand) = rule
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| COMPARISONS.contains(&k.as_str())))
        .ok_or_else(|| StateError::runtime(format!("choice rule without a comparison: {rule}")))?;
    let (operator, operand) = match operator.strip_suffix("Path") {
        Some(base) if !base.starts_with("Is") => {
            let other =
                operand.as_str().and_then(|p| Path::parse(p).ok()).and_then(|p| p.get(input, &Value::Null).cloned());
            (base, other.ok_or_else(|| StateError::runtime(format!("{operator}: path not in the input")))?)
        }
        _ => (operator.as_str(), operand.clone()),
    };
    let flag = |expected: bool| operand == json!(expected);
    Ok(match operator {
        "IsNull" => value.is_null() == flag(true),
        "IsString" => value.is_string() == flag(true),
        "IsNumeric" => value.is_number() == flag(true),
        "IsBoolean" => value.is_boolean() == flag(true),
        "BooleanEquals" => value == &operand,
        "StringMatches" => match (value.as_str(), operand.as_str()) {
            (Some(text), Some(pattern)) => wildcard(pattern, text),
            _ => false,
        },
        string if string.starts_with("String") => match (value.as_str(), operand.as_str()) {
            (Some(a), Some(b)) => compare(a.cmp(b), string.trim_start_matches("String")),
            _ => false,
        },
        numeric => match (value.as_f64(), operand.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| compare(o, numeric.trim_start_matches("Numeric"))),
            _ => false,
        },
    })
}

fn compare(ordering: std::cmp::Ordering, how: &str) -> bool {
    use std::cmp::Ordering::*;
    match how {
        "Equals" => ordering == Equal,
        "LessThan" => ordering == Less,
        "GreaterThan" => ordering == Greater,
        "LessThanEquals" => ordering != Greater,
        "GreaterThanEquals" => ordering != Less,
        _ => false,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` is a literal star.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            '*' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let Some((first, rest)) = parts.split_first() else { return true };
    let Some(mut remaining) = text.strip_prefix(first.as_str()) else { return false };
    if rest.is_empty() {
        return remaining.is_empty();
    }
    let Some((last, middle)) = rest.split_last() else { return remaining.is_empty() };
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last.as_str())
}
