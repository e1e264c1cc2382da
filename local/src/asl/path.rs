//! ASL reference paths: `$`, `$.a.b`, `$['a b']`, `$.list[0]`, and `$$…` for the context
//! object. Enough for InputPath, OutputPath, ResultPath and `.$` fields; anything richer
//! (filters, wildcards, slices) is refused by name rather than guessed at.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
}

/// A parsed reference path and whether it reads the context object (`$$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub context: bool,
    pub steps: Vec<Step>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let (context, mut rest) = match text.strip_prefix("$$") {
            Some(rest) => (true, rest),
            None => {
                (false, text.strip_prefix('$').ok_or_else(|| format!("{text:?} is not a path (must start with $)"))?)
            }
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty() || name == "*" {
                    return Err(format!("{text:?}: unsupported path syntax"));
                }
                steps.push(Step::Field(name.to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix("['") {
                let end = after.find("']").ok_or_else(|| format!("{text:?}: unclosed ['"))?;
                steps.push(Step::Field(after[..end].to_owned()));
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(|| format!("{text:?}: unclosed ["))?;
                let index = after[..end].parse().map_err(|_| {
                    format!("{text:?}: only array indexes are supported in [], not {:?}", &after[..end])
                })?;
                steps.push(Step::Index(index));
                rest = &after[end + 1..];
            } else {
                return Err(format!("{text:?}: unsupported path syntax at {rest:?}"));
            }
        }
        Ok(Path { context, steps })
    }

    /// The value at this path, if there is one.
    pub fn get<'a>(&self, input: &'a Value, context: &'a Value) -> Option<&'a Value> {
        let root = if self.context { context } else { input };
        self.steps.iter().try_fold(root, |value, step| match step {
            Step::Field(name) => value.get(name),
            Step::Index(index) => value.get(index),
        })
    }

    /// `target` with `value` placed at this path (ResultPath), creating objects on the way.
    pub fn set(&self, target: Value, value: Value) -> Result<Value, String> {
        if self.context {
            return Err("a ResultPath cannot write to the context object".into());
        }
        fn place(target: Value, steps: &[Step], value: Value) -> Result<Value, String> {
            let Some((first, rest)) = steps.split_first() else { return Ok(value) };
            match first {
                Step::Field(name) => {
                    let mut object = match target {
                        Value::Object(object) => object,
                        Value::Null => Map::new(),
                        other => return Err(format!("cannot set field {name:?} on {other}")),
                    };
                    let inner = object.remove(name).unwrap_or(Value::Null);
                    object.insert(name.clone(), place(inner, rest, value)?);
                    Ok(Value::Object(object))
                }
                Step::Index(_) => Err("a ResultPath cannot index an array".into()),
            }
        }
        place(target, &self.steps, value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_read_fields_indexes_and_the_context() {
        let input = json!({"a": {"b c": [10, {"d": true}]}});
        let context = json!({"Execution": {"Name": "run-1"}});
        let get = |text: &str| Path::parse(text).unwrap().get(&input, &context).cloned();
        assert_eq!(get("$"), Some(input.clone()));
        assert_eq!(get("$.a['b c'][1].d"), Some(json!(true)));
        assert_eq!(get("$.a['b c'][0]"), Some(json!(10)));
        assert_eq!(get("$.missing.deeper"), None);
        assert_eq!(get("$$.Execution.Name"), Some(json!("run-1")));
    }

    #[test]
    fn result_paths_create_objects_and_keep_siblings() {
        let path = Path::parse("$.result.inner").unwrap();
        assert_eq!(path.set(json!({"keep": 1}), json!(2)).unwrap(), json!({"keep": 1, "result": {"inner": 2}}));
        assert!(path.set(json!([1]), json!(2)).is_err());
        assert_eq!(Path::parse("$").unwrap().set(json!({"x": 1}), json!("y")).unwrap(), json!("y"));
    }

    #[test]
    fn unsupported_syntax_is_named() {
        assert!(Path::parse("$.list[*]").unwrap_err().contains("only array indexes"));
        assert!(Path::parse("$..deep").unwrap_err().contains("unsupported"));
        assert!(Path::parse("a.b").unwrap_err().contains("must start with $"));
    }
}
