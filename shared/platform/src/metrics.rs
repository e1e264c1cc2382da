//! CloudWatch metrics in Embedded Metric Format (EMF): what a function records during one
//! invocation is written as JSON lines on stdout when it ends, and CloudWatch Logs turns them
//! into metrics (namespace `Seams`, dimensions `service` and `function`, and at most one more
//! per metric, such as `mode` or `outcome`). No API call, no extra latency on the request path.
//!
//! Code records with [`count`] and [`record`] anywhere inside an invocation's [`scope`];
//! outside one (tests, `seams` commands) recording does nothing. Lines are written only where
//! Lambda runs the function (`AWS_LAMBDA_FUNCTION_NAME` is set) or under [`capture`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Seams";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
        }
    }
}

/// One more dimension than `service` and `function`: `("mode", "hybrid")`.
pub type Dimension = Option<(&'static str, String)>;

/// Metric name → its unit and the values recorded.
type Values = BTreeMap<&'static str, (Unit, Vec<f64>)>;

#[derive(Default)]
struct Invocation {
    /// Per extra dimension.
    metrics: BTreeMap<Dimension, Values>,
}

tokio::task_local! {
    static CURRENT: Arc<Mutex<Invocation>>;
    static CAPTURED: Arc<Mutex<Vec<Value>>>;
}

/// Adds `value` to the count `name` of the current invocation.
pub fn count(name: &'static str, value: f64, dimension: Dimension) {
    record(name, value, Unit::Count, dimension);
}

/// Records one value of `name` for the current invocation (several values make a
/// distribution: CloudWatch gets them all).
pub fn record(name: &'static str, value: f64, unit: Unit, dimension: Dimension) {
    let _ = CURRENT.try_with(|current| {
        if let Ok(mut invocation) = current.lock() {
            let values = invocation.metrics.entry(dimension).or_default().entry(name).or_insert((unit, Vec::new()));
            values.1.push(value);
        }
    });
}

/// Runs one invocation of `service`, then writes its metrics, with `Invocations`, `Duration`,
/// and `ColdStart` on the process's first (as the Lambda invocation's log scope says).
pub async fn scope<T>(service: &'static str, invocation: impl Future<Output = T>) -> T {
    let current = Arc::new(Mutex::new(Invocation::default()));
    let started = Instant::now();
    let output = CURRENT.scope(current.clone(), invocation).await;
    let mut invocation = current.lock().map(|mut i| std::mem::take(&mut *i)).unwrap_or_default();
    let general = invocation.metrics.entry(None).or_default();
    general.insert("Invocations", (Unit::Count, vec![1.0]));
    general.insert("Duration", (Unit::Milliseconds, vec![started.elapsed().as_secs_f64() * 1000.0]));
    if crate::logging::cold_start() == Some(true) {
        general.insert("ColdStart", (Unit::Count, vec![1.0]));
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    let documents = documents(service, function.as_deref().unwrap_or(service), invocation, timestamp_ms());
    let captured = CAPTURED.try_with(|captured| {
        if let Ok(mut lines) = captured.lock() {
            lines.extend(documents.iter().cloned());
        }
    });
    if captured.is_err() && function.is_some() {
        for document in documents {
            println!("{document}");
        }
    }
    output
}

/// Runs `future` and returns the EMF documents written inside it (tests).
pub async fn capture<T>(future: impl Future<Output = T>) -> (T, Vec<Value>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let output = CAPTURED.scope(lines.clone(), future).await;
    let lines = lines.lock().map(|l| l.clone()).unwrap_or_default();
    (output, lines)
}

fn timestamp_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// One EMF document per dimension set.
fn documents(service: &str, function: &str, invocation: Invocation, timestamp: u64) -> Vec<Value> {
    invocation
        .metrics
        .into_iter()
        .filter(|(_, metrics)| !metrics.is_empty())
        .map(|(extra, metrics)| {
            let mut dimensions = vec!["service", "function"];
            let mut document = Map::new();
            document.insert("service".into(), json!(service));
            document.insert("function".into(), json!(function));
            if let Some((name, value)) = &extra {
                dimensions.push(name);
                document.insert((*name).into(), json!(value));
            }
            let definitions: Vec<Value> =
                metrics.iter().map(|(name, (unit, _))| json!({"Name": name, "Unit": unit.as_str()})).collect();
            for (name, (_, values)) in metrics {
                let value = if values.len() == 1 { json!(values[0]) } else { json!(values) };
                document.insert(name.into(), value);
            }
            document.insert(
                "_aws".into(),
                json!({"Timestamp": timestamp, "CloudWatchMetrics": [
                    {"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": definitions}]}),
            );
            Value::Object(document)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invocation_writes_one_document_per_dimension_set() {
        let ((), documents) = capture(scope("retrieve", async {
            record("SearchLatency", 12.5, Unit::Milliseconds, Some(("mode", "hybrid".into())));
            count("Searches", 1.0, Some(("mode", "hybrid".into())));
            record("SearchLatency", 3.0, Unit::Milliseconds, Some(("mode", "hybrid".into())));
            count("Searches", 1.0, Some(("mode", "keyword".into())));
        }))
        .await;
        assert_eq!(documents.len(), 3, "{documents:?}");
        let general = &documents[0];
        assert_eq!(general["service"], "retrieve");
        assert_eq!(general["function"], "retrieve", "the service names the function outside Lambda");
        assert_eq!(general["Invocations"], 1.0);
        assert!(general["Duration"].as_f64().is_some());
        let hybrid = documents.iter().find(|d| d["mode"] == "hybrid").unwrap();
        assert_eq!(hybrid["SearchLatency"], json!([12.5, 3.0]));
        let directive = &hybrid["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Seams");
        assert_eq!(directive["Dimensions"], json!([["service", "function", "mode"]]));
        assert!(directive["Metrics"]
            .as_array()
            .unwrap()
            .contains(&json!({"Name": "SearchLatency", "Unit": "Milliseconds"})));
        assert!(hybrid["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    }

    #[tokio::test]
    async fn a_cold_invocation_reports_its_cold_start_and_nothing_is_kept_outside_a_scope() {
        use crate::logging::{invocation_scope, Invocation};
        count("Stray", 1.0, None);
        let invocation = |cold_start| Invocation { cold_start, ..Invocation::default() };
        let ((), cold) = capture(invocation_scope(invocation(true), scope("infer", async {}))).await;
        let ((), warm) = capture(invocation_scope(invocation(false), scope("infer", async {}))).await;
        let ((), outside) = capture(scope("infer", async {})).await;
        assert_eq!(cold[0]["ColdStart"], 1.0, "{cold:?}");
        assert!(warm[0].get("ColdStart").is_none() && outside[0].get("ColdStart").is_none());
        assert!(cold.iter().chain(&warm).all(|d| d.get("Stray").is_none()));
    }
}
