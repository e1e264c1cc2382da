//! What every seams service needs and nothing service-specific: configuration from the
//! environment, JSON logs, AWS clients, the storage/queue/bus seams with their AWS and local
//! adapters, the SQS batch helper, idempotency, retry policy, and the error edge.

pub mod aws;
pub mod config;
pub mod error;
pub mod event_bus;
pub mod function;
pub mod http;
pub mod idempotency;
pub mod logging;
pub mod metrics;
pub mod object_store;
pub mod openapi;
pub mod proxy;
pub mod queue;
pub mod retry;
pub mod routes;
pub mod secrets;
pub mod sqs_batch;
pub mod tenancy;
pub mod trigger;
pub mod xray;

pub use error::ServiceError;
