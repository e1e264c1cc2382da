//! Structured output: the caller's `response_format` is a JSON Schema; the answer must be
//! one JSON value valid against it.

use serde_json::Value;

/// Checks that `schema` is a usable JSON Schema (the request is refused otherwise).
/// A schema an answer can be held to: an object. `true` holds nothing and `false` refuses
/// every answer, so a request with it could only end in a 502 after the model ran.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    if !schema.is_object() {
        return Err("it must be a JSON Schema object".to_owned());
    }
    jsonschema::validator_for(schema).map(|_| ()).map_err(|e| e.to_string())
}

/// The JSON in a model's answer: the whole text, or the inside of a ```json fence.
pub fn parse(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|inner| inner.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim()).map_err(|e| format!("the answer is not JSON ({e})"))
}

/// The value, if valid against `schema`; else every violation, in one line.
pub fn validate(schema: &Value, text: &str) -> Result<Value, String> {
    let value = parse(text)?;
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let problems: Vec<String> =
        validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).take(5).collect();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(format!("the answer does not match the schema: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}})
    }

    #[test]
    fn fenced_and_bare_json_are_read() {
        assert_eq!(validate(&schema(), "```json\n{\"answer\": \"14 days\"}\n```").unwrap()["answer"], "14 days");
        assert_eq!(validate(&schema(), " {\"answer\": \"x\"} ").unwrap()["answer"], "x");
    }

    #[test]
    fn violations_and_prose_are_refused_with_reasons() {
        let error = validate(&schema(), r#"{"answer": 14}"#).unwrap_err();
        assert!(error.contains("not of type") && error.contains("/answer"), "{error}");
        assert!(validate(&schema(), "Sure! Here it is: {").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn an_unusable_schema_is_refused() {
        assert!(check_schema(&json!({"type": "object"})).is_ok());
        assert!(check_schema(&json!({"type": "objekt"})).is_err());
    }
}
