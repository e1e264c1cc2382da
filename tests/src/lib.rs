//! Shared fixtures for the workspace tests: the stand-in stack (moto, PostgreSQL) and the
//! conformance suites that every pair of AWS and local adapters must pass alike.

pub mod event_bus_suite;
pub mod object_store_suite;
pub mod queue_suite;
pub mod stack;
pub mod startup;

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
        Self {
            it,
            _guard: Some(dir),
        }
    }
}

/// A name no other test run uses, for buckets, queues and buses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
