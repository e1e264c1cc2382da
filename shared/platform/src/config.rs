//! Typed configuration from environment variables, checked once at init.
//!
//! Services read every variable through one [`Env`], which records each problem instead
//! of stopping at the first, so a misconfigured function reports all of them, by name, in
//! one line at start.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set")]
    Missing { name: String },
    #[error("{name}={value} is not valid: {reason}")]
    Invalid { name: String, value: String, reason: String },
}

/// Every problem found in one configuration read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigReport(pub Vec<ConfigError>);

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration: ")?;
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigReport {}

/// A snapshot of environment variables and the problems found reading them.
pub struct Env {
    vars: HashMap<String, String>,
    problems: RefCell<Vec<ConfigError>>,
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            problems: RefCell::new(Vec::new()),
        }
    }

    /// A set, non-empty variable.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    /// A variable that must be set; records `Missing` and returns an empty string otherwise.
    pub fn required(&self, name: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.record(ConfigError::Missing { name: name.to_owned() });
            String::new()
        })
    }

    /// A variable parsed as `T`, or `default` when unset; records `Invalid` when it does not parse.
    pub fn parse_or<T>(&self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.optional(name) {
            None => default,
            Some(raw) => raw.trim().parse().unwrap_or_else(|e: T::Err| {
                self.invalid(name, &raw, e.to_string());
                default
            }),
        }
    }

    /// A variable that must be set and parse as `T`; records the problem and returns
    /// `T::default()` otherwise.
    pub fn parse_required<T>(&self, name: &str) -> T
    where
        T: FromStr + Default,
        T::Err: fmt::Display,
    {
        if self.optional(name).is_none() {
            self.record(ConfigError::Missing { name: name.to_owned() });
        }
        self.parse_or(name, T::default())
    }

    /// `true`/`false`/`1`/`0`/`yes`/`no`, or `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        match self.optional(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => false,
            Some(v) => {
                self.invalid(name, &v, "expected true or false".into());
                default
            }
        }
    }

    /// One of `choices`, or `default` when unset.
    pub fn choice(&self, name: &str, choices: &[&str], default: &str) -> String {
        let value = self.optional(name).unwrap_or_else(|| default.to_owned());
        if !choices.contains(&value.as_str()) {
            self.invalid(name, &value, format!("expected one of {}", choices.join(", ")));
        }
        value
    }

    /// Records a problem a service found itself (e.g. two variables that conflict).
    pub fn invalid(&self, name: &str, value: &str, reason: String) {
        self.record(ConfigError::Invalid { name: name.to_owned(), value: shown_value(name, value), reason });
    }

    /// Ends the read: every problem recorded, or none.
    pub fn finish(self) -> Result<(), ConfigReport> {
        let problems = self.problems.into_inner();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigReport(problems))
        }
    }

    fn record(&self, problem: ConfigError) {
        self.problems.borrow_mut().push(problem);
    }
}

/// Values of variables that may hold secrets are never echoed.
fn shown_value(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let secret = ["SECRET", "PASSWORD", "TOKEN", "KEY", "DATABASE_URL"].iter().any(|s| upper.contains(s));
    if secret {
        "<redacted>".to_owned()
    } else {
        format!("{value:?}")
    }
}

/// At init: the configuration, or one line naming every bad variable on stderr and exit
/// status 1 (Lambda reports `Runtime.ExitError`; nothing else runs).
pub fn or_exit<T>(config: Result<T, ConfigReport>) -> T {
    config.unwrap_or_else(|report| {
        eprintln!("seams: {report}");
        std::process::exit(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_reported_by_name() {
        let env = Env::from_pairs([("OTHER", "x")]);
        env.required("SEAMS_RAW_BUCKET");
        let report = env.finish().unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: SEAMS_RAW_BUCKET is not set");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let env = Env::from_pairs([("SEAMS_MAX_BYTES", "lots"), ("SEAMS_PATH_STYLE", "maybe")]);
        env.required("SEAMS_RAW_BUCKET");
        assert_eq!(env.parse_or("SEAMS_MAX_BYTES", 5u64), 5);
        env.flag("SEAMS_PATH_STYLE", false);
        let report = env.finish().unwrap_err();
        let text = report.to_string();
        assert_eq!(report.0.len(), 3, "{text}");
        for name in ["SEAMS_RAW_BUCKET", "SEAMS_MAX_BYTES=\"lots\"", "SEAMS_PATH_STYLE=\"maybe\""] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
    }

    #[test]
    fn required_numbers_are_missing_or_invalid() {
        let env = Env::from_pairs([("B", "x")]);
        assert_eq!(env.parse_required::<u32>("A"), 0);
        assert_eq!(env.parse_required::<u32>("B"), 0);
        let text = env.finish().unwrap_err().to_string();
        assert!(text.contains("A is not set") && text.contains("B=\"x\" is not valid"), "{text}");
    }

    #[test]
    fn blank_counts_as_unset() {
        let env = Env::from_pairs([("SEAMS_RAW_BUCKET", "  ")]);
        env.required("SEAMS_RAW_BUCKET");
        assert!(env.finish().is_err());
    }

    #[test]
    fn secrets_are_not_echoed() {
        let env = Env::from_pairs([("SEAMS_WEBHOOK_SECRET_TTL", "hunter2")]);
        env.parse_or("SEAMS_WEBHOOK_SECRET_TTL", 0u32);
        let text = env.finish().unwrap_err().to_string();
        assert!(!text.contains("hunter2") && text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn valid_values_parse() {
        let env = Env::from_pairs([("N", "42"), ("F", "yes"), ("C", "postgres")]);
        assert_eq!(env.parse_or("N", 0u32), 42);
        assert!(env.flag("F", false));
        assert_eq!(env.choice("C", &["sqlite", "postgres"], "sqlite"), "postgres");
        assert!(env.finish().is_ok());
    }

    #[test]
    fn a_choice_outside_the_set_is_refused() {
        let env = Env::from_pairs([("SEAMS_SEARCH_BACKEND", "pinecone")]);
        env.choice("SEAMS_SEARCH_BACKEND", &["sqlite", "postgres"], "sqlite");
        let text = env.finish().unwrap_err().to_string();
        assert!(text.contains("expected one of sqlite, postgres"), "{text}");
    }
}
