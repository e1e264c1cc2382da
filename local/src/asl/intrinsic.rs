//! The intrinsic functions the definitions use (`States.Format`, `States.JsonMerge`, …),
//! parsed from a `.$` field's text and evaluated against the state's input and context.

use serde_json::Value;

use super::path::Path;

#[derive(Debug, Clone, PartialEq)]
enum Argument {
    Literal(Value),
    Path(String),
    Call(String, Vec<Argument>),
}

/// Whether a `.$` field's text is an intrinsic call rather than a path.
pub fn is_call(text: &str) -> bool {
    text.starts_with("States.")
}

/// Evaluates `States.Name(arguments…)`. The error text becomes `States.IntrinsicFailure`'s cause.
pub fn evaluate(text: &str, input: &Value, context: &Value) -> Result<Value, String> {
    let mut parser = Parser { text, at: 0 };
    let call = parser.argument()?;
    parser.skip_spaces();
    if parser.at != text.len() {
        return Err(format!("{text:?}: unexpected text after the call"));
    }
    resolve(&call, input, context)
}

fn resolve(argument: &Argument, input: &Value, context: &Value) -> Result<Value, String> {
    match argument {
        Argument::Literal(value) => Ok(value.clone()),
        Argument::Path(text) => {
            Path::parse(text)?.get(input, context).cloned().ok_or_else(|| format!("{text} is not in the input"))
        }
        Argument::Call(name, arguments) => {
            let values = arguments.iter().map(|a| resolve(a, input, context)).collect::<Result<Vec<_>, _>>()?;
            call(name, values)
        }
    }
}

fn call(name: &str, arguments: Vec<Value>) -> Result<Value, String> {
    let wrong = || format!("States.{name}: wrong arguments {arguments:?}");
    match (name, arguments.as_slice()) {
        ("Format", [Value::String(template), rest @ ..]) => format(template, rest),
        ("JsonMerge", [Value::Object(left), Value::Object(right), Value::Bool(false)]) => {
            let mut merged = left.clone();
            merged.extend(right.clone());
            Ok(Value::Object(merged))
        }
        ("JsonToString", [value]) => Ok(Value::String(value.to_string())),
        ("StringToJson", [Value::String(text)]) => {
            serde_json::from_str(text).map_err(|e| format!("States.StringToJson: {e}"))
        }
        ("UUID", []) => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        ("Array", items) => Ok(Value::Array(items.to_vec())),
        ("ArrayLength", [Value::Array(items)]) => Ok(Value::from(items.len())),
        ("ArrayGetItem", [Value::Array(items), Value::Number(index)]) => index
            .as_u64()
            .and_then(|i| items.get(i as usize))
            .cloned()
            .ok_or_else(|| format!("States.ArrayGetItem: no item {index}")),
        ("MathAdd", [Value::Number(a), Value::Number(b)]) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => Ok(Value::from(a + b)),
            _ => Err(wrong()),
        },
        (
            "Format" | "JsonMerge" | "JsonToString" | "StringToJson" | "UUID" | "ArrayLength" | "ArrayGetItem"
            | "MathAdd",
            _,
        ) => Err(wrong()),
        _ => Err(format!("States.{name} is not supported by the local runner")),
    }
}

/// `{}` placeholders filled in order: strings as they are, other values as JSON.
fn format(template: &str, arguments: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut arguments = arguments.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                match arguments.next() {
                    Some(Value::String(text)) => out.push_str(text),
                    Some(other) => out.push_str(&other.to_string()),
                    None => return Err(format!("States.Format: more {{}} than arguments in {template:?}")),
                }
            }
            c => out.push(c),
        }
    }
    if arguments.next().is_some() {
        return Err(format!("States.Format: more arguments than {{}} in {template:?}"));
    }
    Ok(Value::String(out))
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_spaces(&mut self) {
        self.at += self.rest().len() - self.rest().trim_start().len();
    }

    fn argument(&mut self) -> Result<Argument, String> {
        self.skip_spaces();
        let rest = self.rest();
        if let Some(call) = rest.strip_prefix("States.") {
            let open = call.find('(').ok_or_else(|| format!("{:?}: a call needs (", self.text))?;
            let name = call[..open].to_owned();
            self.at += "States.".len() + open + 1;
            let mut arguments = Vec::new();
            self.skip_spaces();
            if self.rest().starts_with(')') {
                self.at += 1;
                return Ok(Argument::Call(name, arguments));
            }
            loop {
                arguments.push(self.argument()?);
                self.skip_spaces();
                match self.rest().chars().next() {
                    Some(',') => self.at += 1,
                    Some(')') => {
                        self.at += 1;
                        return Ok(Argument::Call(name, arguments));
                    }
                    _ => return Err(format!("{:?}: expected , or ) at {}", self.text, self.at)),
                }
            }
        }
        if let Some(quoted) = rest.strip_prefix('\'') {
            // Keeps \-escapes for States.Format, except an escaped quote.
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, '\'')) => value.push('\''),
                        Some((_, other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => break,
                    },
                    '\'' => {
                        self.at += i + 2;
                        return Ok(Argument::Literal(Value::String(value)));
                    }
                    c => value.push(c),
                }
            }
            return Err(format!("{:?}: unclosed string", self.text));
        }
        let end = rest.find([',', ')']).unwrap_or(rest.len());
        let token = rest[..end].trim().to_owned();
        self.at += end;
        if token.starts_with('$') {
            return Ok(Argument::Path(token));
        }
        serde_json::from_str(&token)
            .map(Argument::Literal)
            .map_err(|_| format!("{:?}: {token:?} is not an argument", self.text))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(text: &str, input: Value) -> Result<Value, String> {
        evaluate(text, &input, &json!({"Execution": {"Name": "e-1"}}))
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escaped_braces() {
        let input = json!({"step": "Retrieve", "n": 3});
        assert_eq!(
            eval("States.Format('{} failed: {} \\{x\\}', $.step, $.n)", input).unwrap(),
            "Retrieve failed: 3 {x}"
        );
        assert!(eval("States.Format('{} {}', $.step)", json!({"step": 1})).unwrap_err().contains("more {}"));
    }

    #[test]
    fn json_merge_is_shallow_with_the_right_side_winning() {
        let input = json!({"defaults": {"top_k": 5, "mode": "hybrid"}, "given": {"top_k": 3, "q": "x"}});
        let merged = eval("States.JsonMerge($.defaults, $.given, false)", input).unwrap();
        assert_eq!(merged, json!({"top_k": 3, "mode": "hybrid", "q": "x"}));
    }

    #[test]
    fn calls_nest_and_read_the_context() {
        let out = eval("States.Format('s3://{}/{}', $$.Execution.Name, States.JsonToString($.k))", json!({"k": [1]}));
        assert_eq!(out.unwrap(), "s3://e-1/[1]");
        assert_eq!(eval("States.ArrayLength(States.Array(1, 'a', null))", json!({})).unwrap(), 3);
        assert_eq!(eval("States.UUID()", json!({})).unwrap().as_str().map(str::len), Some(36));
    }

    #[test]
    fn unknown_functions_and_bad_arguments_are_named() {
        assert!(eval("States.Hash($.x, 'SHA-1')", json!({"x": 1}))
            .unwrap_err()
            .contains("States.Hash is not supported"));
        assert!(eval("States.JsonMerge($.a, $.b, false)", json!({"a": 1, "b": {}}))
            .unwrap_err()
            .contains("wrong arguments"));
        assert!(eval("States.Format($.missing)", json!({})).unwrap_err().contains("$.missing is not in the input"));
    }
}
