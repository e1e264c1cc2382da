//! Shared fixtures for the workspace tests: the stand-in stack (moto, PostgreSQL) and the
//! conformance suites that every pair of AWS and local adapters must pass alike.

pub mod answer_scenarios;
pub mod event_bus_suite;
pub mod fault_proxy;
pub mod identity_provider;
pub mod invoke_api;
pub mod object_store_suite;
pub mod queue_suite;
pub mod recording_store;
pub mod sqs_poller;
pub mod stack;
pub mod startup;
pub mod step_functions;

use std::sync::Arc;

/// Something under test, with whatever must live as long as it (a temporary directory).
pub struct Fixture<T: ?Sized> {
    pub it: Arc<T>,
    _guard: Option<tempfile::TempDir>,
}

impl<T: ?Sized> Fixture<T> {
    pub fn new(it: Arc<T>) -> Self {
        Self { it, _guard: None }
    }

    pub fn with_dir(it: Arc<T>, dir: tempfile::TempDir) -> Self {
        Self { it, _guard: Some(dir) }
    }
}

/// A name no other test run uses, for buckets, queues and buses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A sample event from `events/`, e.g. `sample_event("ingest/http-post-documents.json")`.
pub fn sample_event(path: &str) -> serde_json::Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every message that arrives on `queue` within `quiet` of the last one (deleting each), so
/// a test can assert how many were sent, not just that one was.
pub async fn drain(
    queue: &dyn seams_platform::queue::Queue,
    quiet: std::time::Duration,
) -> Vec<seams_platform::queue::ReceivedMessage> {
    let mut messages = Vec::new();
    loop {
        let batch = queue.receive(10, quiet).await.expect("the queue answers");
        if batch.is_empty() {
            return messages;
        }
        for message in batch {
            queue.delete(&message.receipt_handle).await.expect("the queue deletes");
            messages.push(message);
        }
    }
}
