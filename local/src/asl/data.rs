//! How a state's paths and templates shape the data it passes on: InputPath and OutputPath
//! select, Parameters / ResultSelector / ItemSelector build, ResultPath places.

use serde_json::{Map, Value};

use super::definition::PathField;
use super::path::Path;
use super::{intrinsic, StateError};

/// The value at `text`, in the input or (for `$$…`) the context object.
pub fn get<'a>(text: &str, input: &'a Value, context: &'a Value) -> Result<&'a Value, StateError> {
    let path = Path::parse(text).map_err(StateError::runtime)?;
    path.get(input, context).ok_or_else(|| StateError::runtime(format!("{text} is not in the input")))
}

/// A `.$` field: a path, or an intrinsic function call.
pub fn field_value(text: &str, input: &Value, context: &Value) -> Result<Value, StateError> {
    if intrinsic::is_call(text) {
        intrinsic::evaluate(text, input, context).map_err(|e| StateError::new("States.IntrinsicFailure", e))
    } else {
        get(text, input, context).cloned()
    }
}

/// InputPath / OutputPath / ItemsPath: absent is `$`, null is `{}`.
pub fn select(path: &PathField, input: &Value, context: &Value) -> Result<Value, StateError> {
    match path {
        PathField::Absent => Ok(input.clone()),
        PathField::Path(text) => get(text, input, context).cloned(),
        PathField::Null => Ok(Value::Object(Map::new())),
    }
}

/// Parameters: the template evaluated, or the input itself when there is none.
pub fn parameters(template_value: Option<&Value>, input: &Value, context: &Value) -> Result<Value, StateError> {
    match template_value {
        None => Ok(input.clone()),
        Some(value) => template(value, input, context),
    }
}

/// Parameters / ResultSelector / ItemSelector: `.$` fields evaluated, the rest as written.
pub fn template(value: &Value, input: &Value, context: &Value) -> Result<Value, StateError> {
    match value {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, field) in fields {
                match (key.strip_suffix(".$"), field) {
                    (Some(name), Value::String(text)) => {
                        out.insert(name.to_owned(), field_value(text, input, context)?);
                    }
                    _ => {
                        out.insert(key.clone(), template(field, input, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            items.iter().map(|i| template(i, input, context)).collect::<Result<_, _>>().map(Value::Array)
        }
        other => Ok(other.clone()),
    }
}

/// ResultPath: absent is `$` (the result replaces the input), null discards the result.
pub fn result_path(path: &PathField, raw: Value, result: Value) -> Result<Value, StateError> {
    match path {
        PathField::Absent => Ok(result),
        PathField::Path(text) => Path::parse(text).and_then(|p| p.set(raw, result)).map_err(StateError::runtime),
        PathField::Null => Ok(raw),
    }
}

/// Whether an error name is matched by an `ErrorEquals` list.
pub fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|name| match name.as_str() {
        // States.ALL and States.TaskFailed never match these (as in Step Functions).
        "States.ALL" => !matches!(error, "States.Runtime" | "States.DataLimitExceeded"),
        "States.TaskFailed" => !matches!(error, "States.Runtime" | "States.DataLimitExceeded" | "States.Timeout"),
        name => name == error,
    })
}
