//! The interpreter: runs a typed [`Machine`] from its StartAt to its end, with Step
//! Functions' semantics for each state, Retry and Catch, and the context object.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use rand::RngExt;
use serde_json::{json, Value};

use super::data::{field_value, get, matches, parameters, result_path, select, template};
use super::definition::{Fail, Machine, Map, PathField, Retrier, State, Wait};
use super::{choice, Execution, StateError, Tasks, Transition, UnsupportedDefinition};

type Observer = Arc<dyn Fn(&Transition) + Send + Sync>;

pub struct Runner {
    tasks: Arc<dyn Tasks>,
    /// Multiplies every Wait and retry interval (tests run at a thousandth of real time).
    time_scale: f64,
    observer: Option<Observer>,
}

/// One execution's context object and what happened so far.
struct Run {
    context: Value,
    transitions: Mutex<Vec<Transition>>,
    observer: Option<Observer>,
}

/// Step Functions fails an execution whose history passes 25,000 events; a definition that
/// loops forever fails here the same way rather than running for ever.
const MAX_HISTORY_EVENTS: usize = 25_000;

/// The longest wait between retries: Step Functions' largest MaxDelaySeconds.
const MAX_RETRY_DELAY_SECONDS: f64 = 31_622_400.0;

/// Step Functions' bound on a state's input and output and on a task's result: 256 KiB of
/// JSON text. Past it the state fails with `States.DataLimitExceeded`, which `States.ALL`
/// does not catch; a workflow that passes it locally would fail the same way when deployed.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Fails with `States.DataLimitExceeded` when `value`, as JSON text, is over
/// [`MAX_PAYLOAD_BYTES`]; `what` names it in the cause.
fn within_payload_limit(what: &str, value: &Value) -> Result<(), StateError> {
    let mut counter = ByteCount(0);
    // Writing to a counter cannot fail but for a value serde cannot write, which a Value is not.
    let _ = serde_json::to_writer(&mut counter, value);
    if counter.0 > MAX_PAYLOAD_BYTES {
        return Err(StateError::new(
            "States.DataLimitExceeded",
            format!("{what} is {} bytes; Step Functions takes at most {MAX_PAYLOAD_BYTES}", counter.0),
        ));
    }
    Ok(())
}

/// Counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

    /// Refuses to go on once the history is over Step Functions' limit.
    fn check_history(&self) -> Result<(), StateError> {
        let events = self.transitions.lock().map_or(0, |transitions| transitions.len());
        if events > MAX_HISTORY_EVENTS {
            return Err(StateError::runtime(format!(
                "the execution's history passed {MAX_HISTORY_EVENTS} events, Step Functions' limit"
            )));
        }
        Ok(())
    }
}

/// The work of a Task, Parallel or Map state: what its retriers retry.
#[derive(Clone, Copy)]
enum Work<'a> {
    Task(&'a super::definition::Task),
    Parallel(&'a [Machine]),
    Map(&'a Map),
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
        let machine = Machine::parse(definition, "(definition)")?;
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
        // Every later state's input is an earlier one's output, checked where it is made.
        let output = match within_payload_limit("the execution's input", &input) {
            Ok(()) => self.machine(&run, &machine, input, None).await,
            Err(error) => Err(error),
        };
        let transitions = run.transitions.into_inner().unwrap_or_default();
        Ok(Execution { name, output, transitions })
    }

    /// One machine to its end; `map_item` is `$$.Map.Item` inside a Map.
    fn machine<'a>(
        &'a self,
        run: &'a Run,
        machine: &'a Machine,
        input: Value,
        map_item: Option<Value>,
    ) -> BoxFuture<'a, Result<Value, StateError>> {
        async move {
            let mut name = machine.start_at.clone();
            let mut input = input;
            loop {
                let state =
                    machine.states.get(&name).ok_or_else(|| StateError::runtime(format!("{name:?} is not a state")))?;
                run.check_history()?;
                run.record(Transition::Entered { state: name.clone(), r#type: state.type_name().to_owned() });
                let mut context = run.context.clone();
                context["State"] = json!({"Name": name, "EnteredTime": now(), "RetryCount": 0});
                if let Some(item) = &map_item {
                    context["Map"] = json!({"Item": item});
                }
                match self.state(run, &name, state, input.clone(), &context).await {
                    Ok((output, chosen)) => {
                        run.record(Transition::Exited { state: name.clone() });
                        match chosen.or_else(|| state.next().map(str::to_owned)) {
                            Some(next) => name = next,
                            None => return Ok(output),
                        }
                        input = output;
                    }
                    Err(error) => {
                        let caught = state.catchers().iter().find(|c| matches(&c.error_equals, &error.error));
                        let Some(catcher) = caught else { return Err(error) };
                        run.record(Transition::Caught {
                            state: name.clone(),
                            error: error.error.clone(),
                            next: catcher.next.clone(),
                        });
                        let error_output = json!({"Error": error.error, "Cause": error.cause});
                        input = result_path(&catcher.result_path, input, error_output)?;
                        within_payload_limit("the catcher's output", &input)?;
                        name = catcher.next.clone();
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
        state: &State,
        raw: Value,
        context: &Value,
    ) -> Result<(Value, Option<String>), StateError> {
        let effective = select(state.input_path(), &raw, context)?;
        let output = match state {
            State::Pass(pass) => {
                let result = match &pass.result {
                    Some(result) => result.clone(),
                    None => parameters(pass.parameters.as_ref(), &effective, context)?,
                };
                result_path(&pass.result_path, raw, result)?
            }
            State::Task(task) => {
                let result = self.with_retries(run, name, Work::Task(task), &task.retry, &effective, context).await?;
                shaped(task.result_selector.as_ref(), &task.result_path, raw, result, context)?
            }
            State::Parallel(parallel) => {
                let work = Work::Parallel(&parallel.machines);
                let result = self.with_retries(run, name, work, &parallel.retry, &effective, context).await?;
                shaped(parallel.result_selector.as_ref(), &parallel.result_path, raw, result, context)?
            }
            State::Map(map) => {
                let result = self.with_retries(run, name, Work::Map(map), &map.retry, &effective, context).await?;
                shaped(map.result_selector.as_ref(), &map.result_path, raw, result, context)?
            }
            State::Choice(rules) => {
                let next = choice::choose(rules, &effective)?;
                return Ok((select(state.output_path(), &effective, context)?, Some(next)));
            }
            State::Wait(wait) => {
                let seconds = wait_seconds(wait, &effective, context)?;
                tokio::time::sleep(Duration::from_secs_f64((seconds * self.time_scale).max(0.0))).await;
                effective
            }
            State::Succeed(_) => effective,
            State::Fail(fail) => return Err(failure(fail, &effective, context)?),
        };
        let output = select(state.output_path(), &output, context)?;
        within_payload_limit("the state's output", &output)?;
        Ok((output, None))
    }

    /// The state's work, retried as its Retry rules say.
    async fn with_retries(
        &self,
        run: &Run,
        name: &str,
        work: Work<'_>,
        retriers: &[Retrier],
        effective: &Value,
        context: &Value,
    ) -> Result<Value, StateError> {
        let mut attempts = vec![0u32; retriers.len()];
        let mut retry = 0u32;
        loop {
            let mut context = context.clone();
            context["State"]["RetryCount"] = json!(retry);
            let error = match self.work(run, name, work, effective, &context).await {
                Ok(result) => return Ok(result),
                Err(error) => error,
            };
            let Some(index) = retriers.iter().position(|r| matches(&r.error_equals, &error.error)) else {
                return Err(error);
            };
            let retrier = &retriers[index];
            if attempts[index] >= retrier.max_attempts {
                return Err(error);
            }
            let mut delay = retrier.interval_seconds * retrier.backoff_rate.powi(attempts[index] as i32);
            if let Some(max) = retrier.max_delay_seconds {
                delay = delay.min(max);
            }
            if retrier.jitter_strategy.as_deref() == Some("FULL") {
                delay = rand::rng().random_range(0.0..=delay);
            }
            attempts[index] += 1;
            retry += 1;
            // A backoff can grow past any duration; a year is as good as for ever here.
            let delay = Duration::from_secs_f64(delay.min(MAX_RETRY_DELAY_SECONDS) * self.time_scale);
            run.check_history()?;
            run.record(Transition::Retrying { state: name.into(), attempt: retry, delay_ms: delay.as_millis() as u64 });
            tokio::time::sleep(delay).await;
        }
    }

    async fn work(
        &self,
        run: &Run,
        name: &str,
        work: Work<'_>,
        effective: &Value,
        context: &Value,
    ) -> Result<Value, StateError> {
        match work {
            Work::Task(task) => {
                let parameters = parameters(task.parameters.as_ref(), effective, context)?;
                within_payload_limit("the task's parameters", &parameters)?;
                let call = self.tasks.call(&task.resource, parameters);
                let outcome = match task.timeout_seconds {
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
                within_payload_limit("the task's result", outcome.as_ref().unwrap_or(&Value::Null))?;
                outcome
            }
            Work::Parallel(branches) => {
                let runs = branches.iter().map(|branch| self.machine(run, branch, effective.clone(), None));
                futures::future::join_all(runs).await.into_iter().collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            Work::Map(map) => self.map(run, map, effective, context).await,
        }
    }

    async fn map(&self, run: &Run, map: &Map, effective: &Value, context: &Value) -> Result<Value, StateError> {
        let items = match &map.item_reader {
            Some(reader) => {
                let parameters = parameters(reader.parameters.as_ref(), effective, context)?;
                let listed = self.tasks.call(&reader.resource, parameters).await?;
                listed["Contents"].as_array().cloned().unwrap_or_default()
            }
            None => match select(&map.items_path, effective, context)? {
                Value::Array(items) => items,
                other => return Err(StateError::runtime(format!("ItemsPath is not an array: {other}"))),
            },
        };
        let processor = map.processor.as_deref().ok_or_else(|| StateError::runtime("the Map has no processor"))?;
        let concurrency = match map.max_concurrency {
            Some(0) | None => items.len().max(1),
            Some(n) => n as usize,
        };
        let iterations = items.into_iter().enumerate().map(|(index, value)| {
            let item = json!({"Index": index, "Value": value});
            async move {
                let mut context = context.clone();
                context["Map"] = json!({"Item": item});
                let input = match &map.item_selector {
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
        if map.tolerated_failure_percentage.is_none() && map.tolerated_failure_count.is_none() {
            // An inline Map fails with its first failed iteration.
            if let Some(error) = failed.first() {
                return Err(error.clone());
            }
        } else {
            let over_percent = map
                .tolerated_failure_percentage
                .is_some_and(|p| total > 0 && failed.len() as f64 * 100.0 / total as f64 > p);
            let over_count = map.tolerated_failure_count.is_some_and(|c| failed.len() as u64 > c);
            if over_percent || over_count {
                return Err(StateError::new(
                    "States.ExceedToleratedFailureThreshold",
                    format!("{} of {total} items failed", failed.len()),
                ));
            }
        }
        let results: Vec<Value> =
            outcomes.into_iter().map(|o| o.unwrap_or_else(|e| json!({"Error": e.error, "Cause": e.cause}))).collect();
        let Some(writer) = &map.result_writer else { return Ok(Value::Array(results)) };
        let mut parameters = parameters(writer.parameters.as_ref(), effective, context)?;
        let execution = run.context["Execution"]["Name"].as_str().unwrap_or_default();
        let prefix = parameters["Prefix"].as_str().unwrap_or_default().trim_end_matches('/').to_owned();
        let key = format!("{prefix}/{execution}/manifest.json");
        let summary =
            json!({"total": total, "succeeded": total - failed.len(), "failed": failed.len(), "results": results});
        parameters["Key"] = json!(key);
        parameters["Body"] = summary;
        self.tasks.call(&writer.resource, parameters.clone()).await?;
        Ok(json!({"MapRunArn": format!("arn:seams:local:mapRun:{execution}"),
                  "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}}))
    }
}

/// A work state's result through its ResultSelector and ResultPath.
fn shaped(
    selector: Option<&Value>,
    path: &PathField,
    raw: Value,
    result: Value,
    context: &Value,
) -> Result<Value, StateError> {
    let result = match selector {
        Some(selector) => template(selector, &result, context)?,
        None => result,
    };
    result_path(path, raw, result)
}

fn wait_seconds(wait: &Wait, input: &Value, context: &Value) -> Result<f64, StateError> {
    match (wait.seconds, &wait.seconds_path) {
        (Some(seconds), _) => Ok(seconds),
        (None, Some(path)) => {
            get(path, input, context)?.as_f64().ok_or_else(|| StateError::runtime("SecondsPath is not a number"))
        }
        (None, None) => Ok(0.0),
    }
}

/// A Fail state's error and cause, literal or read from the input.
fn failure(fail: &Fail, input: &Value, context: &Value) -> Result<StateError, StateError> {
    let text = |literal: &Option<String>, path: &Option<String>| -> Result<String, StateError> {
        match (literal, path) {
            (Some(text), _) => Ok(text.clone()),
            (None, Some(reference)) => Ok(match field_value(reference, input, context)? {
                Value::String(text) => text,
                other => other.to_string(),
            }),
            (None, None) => Ok(String::new()),
        }
    };
    Ok(StateError::new(text(&fail.error, &fail.error_path)?, text(&fail.cause, &fail.cause_path)?))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
