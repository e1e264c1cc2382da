//! A local runner for Amazon States Language definitions (JSONPath), with Step Functions'
//! semantics for what `statemachines/*.asl.json` use: Task, Choice, Pass, Map (inline, and
//! distributed over an item reader), Parallel, Wait, Succeed, Fail; Retry and Catch;
//! InputPath, Parameters, ResultSelector, ResultPath, OutputPath; intrinsic functions; the
//! context object. Tasks go to a [`Tasks`] implementation (the in-process functions, or queued
//! results in tests). Anything else is refused up front, naming the state and the construct.

mod choice;
mod data;
mod definition;
mod intrinsic;
mod path;
mod runner;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

pub use self::runner::{Runner, MAX_PAYLOAD_BYTES};

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
