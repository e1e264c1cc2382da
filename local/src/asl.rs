//! A local runner for Amazon States Language definitions (JSONPath), with Step Functions'
//! semantics for what `statemachines/*.asl.json` use: Task, Choice, Pass, Map (inline, and
//! distributed over an item reader), Parallel, Wait, Succeed, Fail; Retry and Catch;
//! InputPath, Parameters, ResultSelector, ResultPath, OutputPath; intrinsic functions; the
//! context object. Tasks go to a [`Tasks`] implementation (the in-process functions, or queued
//! results in tests). Anything else is refused up front, naming the state and the construct.

mod intrinsic;
mod path;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};

use self::path::Path;

/// An error as Step Functions names it (`Seams.Transient`, `States.Timeout`, …) with its cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StateError {
    pub error: String,
    pub cause: String,
}

impl StateError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { error: error.into(), cause: cause.into() }
    }

    fn runtime(cause: impl Into<String>) -> Self {
        Self::new("States.Runtime", cause)
    }
}

/// What a definition asks for that this runner does not do, found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state {state:?}: {problem}")]
pub struct UnsupportedDefinition {
    pub state: String,
    pub problem: String,
}

/// Where Task states go: `resource` is the state's `Resource` (an integration ARN such as
/// `arn:aws:states:::lambda:invoke`), `parameters` its evaluated `Parameters`.
#[async_trait]
pub trait Tasks: Send + Sync {
    async fn call(&self, resource: &str, parameters: Value) -> Result<Value, StateError>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Transition {
    Entered {
        state: String,
        r#type: String,
    },
    /// A Task's result, before ResultSelector/ResultPath.
    TaskSucceeded {
        state: String,
        result: Value,
    },
    TaskFailed {
        state: String,
        error: StateError,
    },
    Retrying {
        state: String,
        attempt: u32,
        delay_ms: u64,
    },
    Caught {
        state: String,
        error: String,
        next: String,
    },
    Exited {
        state: String,
    },
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transition::Entered { state, r#type } => write!(f, "→ {state} ({type})"),
            Transition::TaskSucceeded { state, .. } => write!(f, "  {state}: task succeeded"),
            Transition::TaskFailed { state, error } => write!(f, "  {state}: task failed: {error}"),
            Transition::Retrying { state, attempt, delay_ms } => {
                write!(f, "  {state}: retry {attempt} in {delay_ms} ms")
            }
            Transition::Caught { state, error, next } => write!(f, "  {state}: {error} caught → {next}"),
            Transition::Exited { state } => write!(f, "✓ {state}"),
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub name: String,
    pub output: Result<Value, StateError>,
    pub transitions: Vec<Transition>,
}

impl Execution {
    /// The states entered, in order (what Step Functions' history lists as *StateEntered).
    pub fn states(&self) -> Vec<&str> {
        self.transitions
            .iter()
            .filter_map(|t| match t {
                Transition::Entered { state, .. } => Some(state.as_str()),
                _ => None,
            })
            .collect()
    }
}

type Observer = Arc<dyn Fn(&Transition) + Send + Sync>;

pub struct Runner {
    tasks: Arc<dyn Tasks>,
    /// Multiplies every Wait and retry interval (tests run at a thousandth of real time).
    time_scale: f64,
    observer: Option<Observer>,
}

struct Run {
    context: Value,
    transitions: Mutex<Vec<Transition>>,
    observer: Option<Observer>,
}

impl Run {
    fn record(&self, transition: Transition) {
        if let Some(observer) = &self.observer {
            observer(&transition);
        }
        if let Ok(mut transitions) = self.transitions.lock() {
            transitions.push(transition);
        }
    }
}

impl Runner {
    pub fn new(tasks: Arc<dyn Tasks>) -> Self {
        Self { tasks, time_scale: 1.0, observer: None }
    }

    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale;
        self
    }

    /// Called with every transition as it happens (`seams run` prints them).
    pub fn with_observer(mut self, observer: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Runs `definition` on `input` to its end. A definition this runner cannot execute is
    /// refused before the first state.
    pub async fn run(&self, definition: &Value, input: Value) -> Result<Execution, UnsupportedDefinition> {
        check_machine(definition, "(definition)")?;
        let name = uuid::Uuid::new_v4().to_string();
        let run = Run {
            context: json!({
                "Execution": {"Id": format!("arn:seams:local:execution:{name}"), "Name": name,
                              "Input": input, "StartTime": now()},
                "StateMachine": {"Id": "arn:seams:local:stateMachine", "Name": "local"},
            }),
            transitions: Mutex::new(Vec::new()),
            observer: self.observer.clone(),
        };
        let output = self.machine(&run, definition, input, None).await;
        let transitions = run.transitions.into_inner().unwrap_or_default();
        Ok(Execution { name, output, transitions })
    }

    /// One `{StartAt, States}` to its end; `map_item` is `$$.Map.Item` inside a Map.
    fn machine<'a>(
        &'a self,
        run: &'a Run,
        machine: &'a Value,
        input: Value,
        map_item: Option<Value>,
    ) -> BoxFuture<'a, Result<Value, StateError>> {
        async move {
            let states = &machine["States"];
            let mut name = machine["StartAt"].as_str().unwrap_or_default().to_owned();
            let mut input = input;
            loop {
                let state = &states[&name];
                let kind = state["Type"].as_str().unwrap_or_default();
                run.record(Transition::Entered { state: name.clone(), r#type: kind.to_owned() });
                let mut context = run.context.clone();
                context["State"] = json!({"Name": name, "EnteredTime": now(), "RetryCount": 0});
                if let Some(item) = &map_item {
                    context["Map"] = json!({"Item": item});
                }
                let outcome = self.state(run, &name, state, input.clone(), &context).await;
                match outcome {
                    Ok((output, chosen)) => {
                        run.record(Transition::Exited { state: name.clone() });
                        if kind == "Succeed" || state["End"] == json!(true) {
                            return Ok(output);
                        }
                        name = chosen.unwrap_or_else(|| state["Next"].as_str().unwrap_or_default().to_owned());
                        input = output;
                    }
                    Err(error) => {
                        let caught = state["Catch"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|catcher| matches(&catcher["ErrorEquals"], &error.error));
                        let Some(catcher) = caught else { return Err(error) };
                        let next = catcher["Next"].as_str().unwrap_or_default().to_owned();
                        run.record(Transition::Caught {
                            state: name.clone(),
                            error: error.error.clone(),
                            next: next.clone(),
                        });
                        let error_output = json!({"Error": error.error, "Cause": error.cause});
                        input = result_path(catcher.get("ResultPath"), input, error_output)?;
                        name = next;
                    }
                }
            }
        }
        .boxed()
    }

    /// One state's output, and the next state when it chooses one (Choice).
    async fn state(
        &self,
        run: &Run,
        name: &str,
        state: &Value,
        raw: Value,
        context: &Value,
    ) -> Result<(Value, Option<String>), StateError> {
        let kind = state["Type"].as_str().unwrap_or_default();
        let effective = select(state.get("InputPath"), &raw, context)?;
        let output = match kind {
            "Pass" => {
                let result = match state.get("Result") {
                    Some(result) => result.clone(),
                    None => parameters(&state["Parameters"], &effective, context)?,
                };
                result_path(state.get("ResultPath"), raw, result)?
            }
            "Task" | "Map" | "Parallel" => {
                let result = self.with_retries(run, name, state, &effective, context).await?;
                let result = match state.get("ResultSelector") {
                    Some(selector) => template(selector, &result, context)?,
                    None => result,
                };
                result_path(state.get("ResultPath"), raw, result)?
            }
            "Choice" => {
                let next = choose(state, &effective)?;
                return Ok((select(state.get("OutputPath"), &effective, context)?, Some(next)));
            }
            "Wait" => {
                let seconds = match (&state["Seconds"], &state["SecondsPath"]) {
                    (Value::Number(n), _) => n.as_f64().unwrap_or_default(),
                    (_, Value::String(path)) => get(path, &effective, context)?
                        .as_f64()
                        .ok_or_else(|| StateError::runtime("SecondsPath is not a number"))?,
                    _ => 0.0,
                };
                tokio::time::sleep(Duration::from_secs_f64((seconds * self.time_scale).max(0.0))).await;
                effective.clone()
            }
            "Succeed" => effective.clone(),
            "Fail" => {
                let text = |literal: &str, path: &str| -> Result<String, StateError> {
                    match (&state[literal], &state[path]) {
                        (Value::String(text), _) => Ok(text.clone()),
                        (_, Value::String(reference)) => Ok(match field_value(reference, &effective, context)? {
                            Value::String(text) => text,
                            other => other.to_string(),
                        }),
                        _ => Ok(String::new()),
                    }
                };
                return Err(StateError::new(text("Error", "ErrorPath")?, text("Cause", "CausePath")?));
            }
            other => return Err(StateError::runtime(format!("unknown state type {other}"))),
        };
        Ok((select(state.get("OutputPath"), &output, context)?, None))
    }

    /// The state's work, retried as its Retry rules say.
    async fn with_retries(
        &self,
        run: &Run,
        name: &str,
        state: &Value,
        effective: &Value,
        context: &Value,
    ) -> Result<Value, StateError> {
        let retriers = state["Retry"].as_array().cloned().unwrap_or_default();
        let mut attempts = vec![0u32; retriers.len()];
        let mut retry = 0u32;
        loop {
            let mut context = context.clone();
            context["State"]["RetryCount"] = json!(retry);
            let error = match self.work(run, name, state, effective, &context).await {
                Ok(result) => return Ok(result),
                Err(error) => error,
            };
            let Some(index) = retriers.iter().position(|r| matches(&r["ErrorEquals"], &error.error)) else {
                return Err(error);
            };
            let retrier = &retriers[index];
            let max_attempts = retrier["MaxAttempts"].as_u64().unwrap_or(3) as u32;
            if attempts[index] >= max_attempts {
                return Err(error);
            }
            let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
            let backoff = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
            let mut delay = interval * backoff.powi(attempts[index] as i32);
            if let Some(max) = retrier["MaxDelaySeconds"].as_f64() {
                delay = delay.min(max);
            }
            if retrier["JitterStrategy"] == json!("FULL") {
                delay = rand::rng().random_range(0.0..=delay);
            }
            attempts[index] += 1;
            retry += 1;
            let delay = Duration::from_secs_f64(delay * self.time_scale);
            run.record(Transition::Retrying { state: name.into(), attempt: retry, delay_ms: delay.as_millis() as u64 });
            tokio::time::sleep(delay).await;
        }
    }

    async fn work(
        &self,
        run: &Run,
        name: &str,
        state: &Value,
        effective: &Value,
        context: &Value,
    ) -> Result<Value, StateError> {
        match state["Type"].as_str() {
            Some("Task") => {
                let resource = state["Resource"].as_str().unwrap_or_default();
                let parameters = parameters(&state["Parameters"], effective, context)?;
                let call = self.tasks.call(resource, parameters);
                let outcome = match state["TimeoutSeconds"].as_f64() {
                    Some(seconds) => {
                        tokio::time::timeout(Duration::from_secs_f64(seconds), call).await.unwrap_or_else(|_| {
                            Err(StateError::new("States.Timeout", format!("no result in {seconds} s")))
                        })
                    }
                    None => call.await,
                };
                match &outcome {
                    Ok(result) => run.record(Transition::TaskSucceeded { state: name.into(), result: result.clone() }),
                    Err(error) => run.record(Transition::TaskFailed { state: name.into(), error: error.clone() }),
                }
                outcome
            }
            Some("Parallel") => {
                let branches = state["Branches"].as_array().cloned().unwrap_or_default();
                let runs = branches.iter().map(|branch| self.machine(run, branch, effective.clone(), None));
                futures::future::join_all(runs).await.into_iter().collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            Some("Map") => self.map(run, state, effective, context).await,
            other => Err(StateError::runtime(format!("{other:?} has no work"))),
        }
    }

    async fn map(&self, run: &Run, state: &Value, effective: &Value, context: &Value) -> Result<Value, StateError> {
        let items = match state.get("ItemReader") {
            Some(reader) => {
                let parameters = parameters(&reader["Parameters"], effective, context)?;
                let listed = self.tasks.call(reader["Resource"].as_str().unwrap_or_default(), parameters).await?;
                listed["Contents"].as_array().cloned().unwrap_or_default()
            }
            None => match select(state.get("ItemsPath"), effective, context)? {
                Value::Array(items) => items,
                other => return Err(StateError::runtime(format!("ItemsPath is not an array: {other}"))),
            },
        };
        let processor = state.get("ItemProcessor").or_else(|| state.get("Iterator")).unwrap_or(&Value::Null);
        let selector = state.get("ItemSelector").or_else(|| state.get("Parameters"));
        let concurrency = match state["MaxConcurrency"].as_u64() {
            Some(0) | None => items.len().max(1),
            Some(n) => n as usize,
        };
        let iterations = items.into_iter().enumerate().map(|(index, value)| {
            let item = json!({"Index": index, "Value": value});
            async move {
                let mut context = context.clone();
                context["Map"] = json!({"Item": item});
                let input = match selector {
                    Some(selector) => template(selector, effective, &context)?,
                    None => item["Value"].clone(),
                };
                self.machine(run, processor, input, Some(item.clone())).await
            }
        });
        let outcomes: Vec<Result<Value, StateError>> =
            futures::stream::iter(iterations).buffered(concurrency).collect().await;

        let total = outcomes.len();
        let failed: Vec<StateError> = outcomes.iter().filter_map(|o| o.as_ref().err().cloned()).collect();
        let tolerated_percent = state["ToleratedFailurePercentage"].as_f64();
        let tolerated_count = state["ToleratedFailureCount"].as_u64();
        if tolerated_percent.is_none() && tolerated_count.is_none() {
            // An inline Map fails with its first failed iteration.
            if let Some(error) = failed.first() {
                return Err(error.clone());
            }
        } else {
            let over_percent =
                tolerated_percent.is_some_and(|p| total > 0 && failed.len() as f64 * 100.0 / total as f64 > p);
            let over_count = tolerated_count.is_some_and(|c| failed.len() as u64 > c);
            if over_percent || over_count {
                return Err(StateError::new(
                    "States.ExceedToleratedFailureThreshold",
                    format!("{} of {total} items failed", failed.len()),
                ));
            }
        }
        let results: Vec<Value> =
            outcomes.into_iter().map(|o| o.unwrap_or_else(|e| json!({"Error": e.error, "Cause": e.cause}))).collect();
        match state.get("ResultWriter") {
            None => Ok(Value::Array(results)),
            Some(writer) => {
                let mut parameters = parameters(&writer["Parameters"], effective, context)?;
                let execution = run.context["Execution"]["Name"].as_str().unwrap_or_default();
                let prefix = parameters["Prefix"].as_str().unwrap_or_default().trim_end_matches('/').to_owned();
                let key = format!("{prefix}/{execution}/manifest.json");
                let summary = json!({"total": total, "succeeded": total - failed.len(), "failed": failed.len(),
                                     "results": results});
                parameters["Key"] = json!(key);
                parameters["Body"] = summary;
                self.tasks.call(writer["Resource"].as_str().unwrap_or_default(), parameters.clone()).await?;
                Ok(json!({"MapRunArn": format!("arn:seams:local:mapRun:{execution}"),
                          "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}}))
            }
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether an error name is matched by an `ErrorEquals` list.
fn matches(error_equals: &Value, error: &str) -> bool {
    error_equals.as_array().into_iter().flatten().filter_map(Value::as_str).any(|name| match name {
        // States.ALL and States.TaskFailed never match these (as in Step Functions).
        "States.ALL" => !matches!(error, "States.Runtime" | "States.DataLimitExceeded"),
        "States.TaskFailed" => !matches!(error, "States.Runtime" | "States.DataLimitExceeded" | "States.Timeout"),
        name => name == error,
    })
}

fn get<'a>(text: &str, input: &'a Value, context: &'a Value) -> Result<&'a Value, StateError> {
    let path = Path::parse(text).map_err(StateError::runtime)?;
    path.get(input, context).ok_or_else(|| StateError::runtime(format!("{text} is not in the input")))
}

/// A `.$` field: a path, or an intrinsic function call.
fn field_value(text: &str, input: &Value, context: &Value) -> Result<Value, StateError> {
    if intrinsic::is_call(text) {
        intrinsic::evaluate(text, input, context).map_err(|e| StateError::new("States.IntrinsicFailure", e))
    } else {
        get(text, input, context).cloned()
    }
}

/// InputPath / OutputPath / ItemsPath: absent is `$`, null is `{}`.
fn select(path: Option<&Value>, input: &Value, context: &Value) -> Result<Value, StateError> {
    match path {
        None => Ok(input.clone()),
        Some(Value::String(text)) => get(text, input, context).cloned(),
        Some(_) => Ok(json!({})),
    }
}

fn parameters(template_value: &Value, input: &Value, context: &Value) -> Result<Value, StateError> {
    if template_value.is_null() {
        return Ok(input.clone());
    }
    template(template_value, input, context)
}

/// Parameters / ResultSelector / ItemSelector: `.$` fields evaluated, the rest as written.
fn template(value: &Value, input: &Value, context: &Value) -> Result<Value, StateError> {
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
fn result_path(path: Option<&Value>, raw: Value, result: Value) -> Result<Value, StateError> {
    match path {
        None => Ok(result),
        Some(Value::String(text)) => Path::parse(text).and_then(|p| p.set(raw, result)).map_err(StateError::runtime),
        Some(_) => Ok(raw),
    }
}

fn choose(state: &Value, input: &Value) -> Result<String, StateError> {
    for rule in state["Choices"].as_array().into_iter().flatten() {
        if rule_holds(rule, input)? {
            return Ok(rule["Next"].as_str().unwrap_or_default().to_owned());
        }
    }
    state["Default"]
        .as_str()
        .map(str::to_owned)
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

// ---------------------------------------------------------------------------- checking

const COMMON: [&str; 5] = ["Type", "Comment", "Next", "End", "InputPath"];

fn allowed(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pass" => &["Result", "ResultPath", "Parameters", "OutputPath"],
        "Task" => &[
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "OutputPath",
            "Retry",
            "Catch",
            "TimeoutSeconds",
        ],
        "Choice" => &["Choices", "Default", "OutputPath"],
        "Wait" => &["Seconds", "SecondsPath", "OutputPath"],
        "Succeed" => &["OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &["Branches", "ResultSelector", "ResultPath", "OutputPath", "Retry", "Catch"],
        "Map" => &[
            "ItemsPath",
            "ItemReader",
            "ItemSelector",
            "Parameters",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "ToleratedFailurePercentage",
            "ToleratedFailureCount",
            "ResultWriter",
            "ResultSelector",
            "ResultPath",
            "OutputPath",
            "Retry",
            "Catch",
            "Label",
        ],
        _ => return None,
    })
}

/// Refuses what the runner would not execute as Step Functions does, naming the state.
fn check_machine(machine: &Value, owner: &str) -> Result<(), UnsupportedDefinition> {
    let unsupported = |state: &str, problem: String| UnsupportedDefinition { state: state.to_owned(), problem };
    if let Some(language) = machine["QueryLanguage"].as_str().filter(|l| *l != "JSONPath") {
        return Err(unsupported(owner, format!("QueryLanguage {language} is not supported (JSONPath only)")));
    }
    let states = machine["States"].as_object().ok_or_else(|| unsupported(owner, "no States".into()))?;
    let start = machine["StartAt"].as_str().unwrap_or_default();
    if !states.contains_key(start) {
        return Err(unsupported(owner, format!("StartAt {start:?} is not a state")));
    }
    for (name, state) in states {
        let kind = state["Type"].as_str().unwrap_or_default();
        let fields = allowed(kind).ok_or_else(|| unsupported(name, format!("state type {kind:?} is not supported")))?;
        let keys: BTreeSet<&str> =
            state.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        if let Some(field) = keys.iter().find(|k| !COMMON.contains(k) && !fields.contains(k)) {
            return Err(unsupported(name, format!("{field} is not supported on a {kind} state")));
        }
        for next in [&state["Next"], &state["Default"]].into_iter().filter_map(Value::as_str).chain(
            state["Catch"]
                .as_array()
                .into_iter()
                .chain(state["Choices"].as_array())
                .flatten()
                .filter_map(|c| c["Next"].as_str()),
        ) {
            if !states.contains_key(next) {
                return Err(unsupported(name, format!("Next {next:?} is not a state")));
            }
        }
        if kind == "Task" && !state["Resource"].as_str().is_some_and(|r| r.starts_with("arn:aws:states:::")) {
            return Err(unsupported(name, format!("Resource {} is not an optimised integration", state["Resource"])));
        }
        if kind == "Map" {
            check_machine(state.get("ItemProcessor").or_else(|| state.get("Iterator")).unwrap_or(&Value::Null), name)?;
            let mode = &state["ItemProcessor"]["ProcessorConfig"]["Mode"];
            if state.get("ItemReader").is_some() && mode != &json!("DISTRIBUTED") {
                return Err(unsupported(name, "an ItemReader needs a DISTRIBUTED processor".into()));
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            check_machine(branch, name)?;
        }
    }
    Ok(())
}
