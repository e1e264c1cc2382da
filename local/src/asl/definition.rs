//! A definition as typed states. Each state type is a struct that refuses fields it does not
//! know, so whatever the runner would not execute as Step Functions does is refused while
//! parsing, naming the state; what serde cannot see (targets that are not states, resources,
//! map modes) is checked after.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::UnsupportedDefinition;

/// `{StartAt, States}`: a state machine, a Parallel branch or a Map's item processor.
#[derive(Debug, Clone)]
pub struct Machine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
}

/// What the JSON holds before each state is typed (so that an error can name the state).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawMachine {
    start_at: String,
    states: serde_json::Map<String, Value>,
    #[serde(default)]
    query_language: Option<String>,
    /// Only on a Map's item processor, where the Map reads it.
    #[serde(default, rename = "ProcessorConfig")]
    _processor_config: IgnoredAny,
    #[serde(default, rename = "Comment")]
    _comment: IgnoredAny,
    #[serde(default, rename = "TimeoutSeconds")]
    _timeout_seconds: IgnoredAny,
    #[serde(default, rename = "Version")]
    _version: IgnoredAny,
}

/// InputPath, OutputPath, ResultPath: absent means `$`; null is a choice of its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PathField {
    #[default]
    Absent,
    Null,
    Path(String),
}

impl<'de> Deserialize<'de> for PathField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<String>::deserialize(deserializer)? {
            None => PathField::Null,
            Some(path) => PathField::Path(path),
        })
    }
}

/// [`flowing_state!`] for the states that do work, retried and caught: Task, Parallel, Map.
macro_rules! working_state {
    ($(#[$meta:meta])* $name:ident { $($fields:tt)* }) => {
        flowing_state!($(#[$meta])* $name {
            #[serde(default)]
            pub result_selector: Option<Value>,
            #[serde(default)]
            pub result_path: PathField,
            #[serde(default)]
            pub retry: Vec<Retrier>,
            #[serde(default)]
            pub catch: Vec<Catcher>,
            $($fields)*
        });
    };
}

/// A state type's struct: the fields every state but Fail has (Comment, InputPath,
/// OutputPath), then its own; unknown fields are refused.
macro_rules! state {
    ($(#[$meta:meta])* $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        pub struct $name {
            #[serde(default, rename = "Comment")]
            _comment: IgnoredAny,
            #[serde(default)]
            pub input_path: PathField,
            #[serde(default)]
            pub output_path: PathField,
            $($fields)*
        }
    };
}

/// [`state!`] for the states that go on (`Next`) or end their machine (`End`).
macro_rules! flowing_state {
    ($(#[$meta:meta])* $name:ident { $($fields:tt)* }) => {
        state!($(#[$meta])* $name {
            #[serde(default)]
            pub next: Option<String>,
            #[serde(default)]
            pub end: bool,
            $($fields)*
        });
    };
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "Type")]
pub enum State {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed(Succeed),
    Fail(Fail),
    Parallel(Parallel),
    Map(Map),
}

flowing_state!(Pass {
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub result_path: PathField,
    #[serde(default)]
    pub parameters: Option<Value>,
});

working_state!(Task {
    pub resource: String,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
});

state!(Choice {
    /// Rules as written: [`super::choice`] evaluates them.
    pub choices: Vec<Value>,
    #[serde(default)]
    pub default: Option<String>,
});

flowing_state!(Wait {
    #[serde(default)]
    pub seconds: Option<f64>,
    #[serde(default)]
    pub seconds_path: Option<String>,
});

state!(Succeed {});

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Fail {
    #[serde(default, rename = "Comment")]
    _comment: IgnoredAny,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_path: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub cause_path: Option<String>,
}

working_state!(Parallel {
    /// Typed by [`Machine::parse`], which names the Parallel state on an error.
    pub branches: Vec<Value>,
    #[serde(skip)]
    pub machines: Vec<Machine>,
});

working_state!(Map {
    #[serde(default)]
    pub items_path: PathField,
    #[serde(default)]
    pub item_reader: Option<Integration>,
    /// `ItemSelector`, or the older `Parameters`.
    #[serde(default, alias = "Parameters")]
    pub item_selector: Option<Value>,
    /// `ItemProcessor`, or the older `Iterator`; typed by [`Machine::parse`].
    #[serde(default, alias = "Iterator")]
    pub item_processor: Option<Value>,
    #[serde(default)]
    pub max_concurrency: Option<u64>,
    #[serde(default)]
    pub tolerated_failure_percentage: Option<f64>,
    #[serde(default)]
    pub tolerated_failure_count: Option<u64>,
    #[serde(default)]
    pub result_writer: Option<Integration>,
    #[serde(default, rename = "Label")]
    _label: IgnoredAny,
    #[serde(skip)]
    pub processor: Option<Box<Machine>>,
    /// `ItemProcessor.ProcessorConfig.Mode`.
    #[serde(skip)]
    pub distributed: bool,
});

/// An ItemReader or ResultWriter: an integration called with its parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Integration {
    pub resource: String,
    #[serde(default)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_backoff")]
    pub backoff_rate: f64,
    #[serde(default)]
    pub max_delay_seconds: Option<f64>,
    #[serde(default)]
    pub jitter_strategy: Option<String>,
    #[serde(default, rename = "Comment")]
    _comment: IgnoredAny,
}

impl Retrier {
    /// Step Functions' bounds on a retrier, which it refuses a definition for breaking.
    fn check(&self) -> Result<(), String> {
        let whole_in =
            |value: f64, range: std::ops::RangeInclusive<f64>| value.fract() == 0.0 && range.contains(&value);
        if !whole_in(self.interval_seconds, 1.0..=99_999_999.0) {
            return Err(format!("IntervalSeconds {} is not a whole number from 1 to 99999999", self.interval_seconds));
        }
        if self.max_attempts > 99_999_999 {
            return Err(format!("MaxAttempts {} is over 99999999", self.max_attempts));
        }
        if !(self.backoff_rate.is_finite() && self.backoff_rate >= 1.0) {
            return Err(format!("BackoffRate {} is below 1", self.backoff_rate));
        }
        match self.max_delay_seconds {
            Some(max) if !whole_in(max, 1.0..=31_622_400.0) => {
                Err(format!("MaxDelaySeconds {max} is not a whole number from 1 to 31622400"))
            }
            _ => Ok(()),
        }
    }
}

fn default_interval() -> f64 {
    1.0
}

fn default_max_attempts() -> u32 {
    3
}

fn default_backoff() -> f64 {
    2.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    #[serde(default)]
    pub result_path: PathField,
    #[serde(default, rename = "Comment")]
    _comment: IgnoredAny,
}

impl State {
    pub fn type_name(&self) -> &'static str {
        match self {
            State::Pass(_) => "Pass",
            State::Task(_) => "Task",
            State::Choice(_) => "Choice",
            State::Wait(_) => "Wait",
            State::Succeed(_) => "Succeed",
            State::Fail(_) => "Fail",
            State::Parallel(_) => "Parallel",
            State::Map(_) => "Map",
        }
    }

    /// `(Next, End)` of a state that has them; Choice chooses, Succeed and Fail end.
    fn flow(&self) -> Option<(Option<&str>, bool)> {
        match self {
            State::Pass(s) => Some((s.next.as_deref(), s.end)),
            State::Task(s) => Some((s.next.as_deref(), s.end)),
            State::Wait(s) => Some((s.next.as_deref(), s.end)),
            State::Parallel(s) => Some((s.next.as_deref(), s.end)),
            State::Map(s) => Some((s.next.as_deref(), s.end)),
            State::Choice(_) | State::Succeed(_) | State::Fail(_) => None,
        }
    }

    /// The state that follows this one when it succeeds, unless it ends its machine.
    pub fn next(&self) -> Option<&str> {
        match self.flow() {
            Some((next, false)) => next,
            _ => None,
        }
    }

    pub fn input_path(&self) -> &PathField {
        match self {
            State::Pass(s) => &s.input_path,
            State::Task(s) => &s.input_path,
            State::Choice(s) => &s.input_path,
            State::Wait(s) => &s.input_path,
            State::Succeed(s) => &s.input_path,
            State::Parallel(s) => &s.input_path,
            State::Map(s) => &s.input_path,
            State::Fail(_) => &PathField::Absent,
        }
    }

    pub fn output_path(&self) -> &PathField {
        match self {
            State::Pass(s) => &s.output_path,
            State::Task(s) => &s.output_path,
            State::Choice(s) => &s.output_path,
            State::Wait(s) => &s.output_path,
            State::Succeed(s) => &s.output_path,
            State::Parallel(s) => &s.output_path,
            State::Map(s) => &s.output_path,
            State::Fail(_) => &PathField::Absent,
        }
    }

    pub fn catchers(&self) -> &[Catcher] {
        match self {
            State::Task(s) => &s.catch,
            State::Parallel(s) => &s.catch,
            State::Map(s) => &s.catch,
            _ => &[],
        }
    }

    /// Every state this one may go to.
    fn targets(&self) -> Vec<&str> {
        let mut targets: Vec<&str> = self.catchers().iter().map(|c| c.next.as_str()).collect();
        match self {
            State::Choice(choice) => {
                targets.extend(choice.choices.iter().filter_map(|rule| rule["Next"].as_str()));
                targets.extend(choice.default.as_deref());
            }
            State::Pass(Pass { next, .. })
            | State::Task(Task { next, .. })
            | State::Wait(Wait { next, .. })
            | State::Parallel(Parallel { next, .. })
            | State::Map(Map { next, .. }) => targets.extend(next.as_deref()),
            State::Succeed(_) | State::Fail(_) => {}
        }
        targets
    }
}

impl Machine {
    /// Types a definition, refusing what the runner would not execute as Step Functions
    /// does. `owner` names the machine in errors: `(definition)`, or the Map or Parallel
    /// state it belongs to.
    pub fn parse(definition: &Value, owner: &str) -> Result<Machine, UnsupportedDefinition> {
        let unsupported = |state: &str, problem: String| UnsupportedDefinition { state: state.to_owned(), problem };
        if let Some(language) = definition["QueryLanguage"].as_str().filter(|l| *l != "JSONPath") {
            return Err(unsupported(owner, format!("QueryLanguage {language} is not supported (JSONPath only)")));
        }
        let raw = RawMachine::deserialize(definition).map_err(|e| unsupported(owner, e.to_string()))?;
        if let Some(language) = raw.query_language.filter(|l| l != "JSONPath") {
            return Err(unsupported(owner, format!("QueryLanguage {language} is not supported (JSONPath only)")));
        }
        let mut states = BTreeMap::new();
        for (name, value) in raw.states {
            states.insert(name.clone(), parse_state(&name, &value)?);
        }
        let machine = Machine { start_at: raw.start_at, states };
        if !machine.states.contains_key(&machine.start_at) {
            return Err(unsupported(owner, format!("StartAt {:?} is not a state", machine.start_at)));
        }
        for (name, state) in &machine.states {
            if let Some(target) = state.targets().into_iter().find(|t| !machine.states.contains_key(*t)) {
                return Err(unsupported(name, format!("Next {target:?} is not a state")));
            }
            if let Some((None, false)) = state.flow() {
                return Err(unsupported(name, "neither Next nor End".into()));
            }
        }
        Ok(machine)
    }
}

/// One state, typed, with its nested machines; errors name the state.
fn parse_state(name: &str, value: &Value) -> Result<State, UnsupportedDefinition> {
    let unsupported = |problem: String| UnsupportedDefinition { state: name.to_owned(), problem };
    let kind = value["Type"].as_str().unwrap_or_default();
    let mut state = State::deserialize(value).map_err(|e| {
        let message = e.to_string();
        let problem = match message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            Some(field) => format!("{field} is not supported on a {kind} state"),
            None if message.starts_with("unknown variant") => format!("state type {kind:?} is not supported"),
            None => message,
        };
        unsupported(problem)
    })?;
    let retriers = match &state {
        State::Task(task) => task.retry.as_slice(),
        State::Parallel(parallel) => parallel.retry.as_slice(),
        State::Map(map) => map.retry.as_slice(),
        _ => &[],
    };
    retriers.iter().try_for_each(Retrier::check).map_err(unsupported)?;
    match &mut state {
        State::Task(task) if !task.resource.starts_with("arn:aws:states:::") => {
            return Err(unsupported(format!("Resource {:?} is not an optimised integration", task.resource)));
        }
        State::Parallel(parallel) => {
            parallel.machines =
                parallel.branches.iter().map(|branch| Machine::parse(branch, name)).collect::<Result<_, _>>()?;
        }
        State::Map(map) => {
            let processor = map.item_processor.clone().unwrap_or(Value::Null);
            map.distributed = processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED";
            if map.item_reader.is_some() && !map.distributed {
                return Err(unsupported("an ItemReader needs a DISTRIBUTED processor".into()));
            }
            map.processor = Some(Box::new(Machine::parse(&processor, name)?));
        }
        _ => {}
    }
    Ok(state)
}
