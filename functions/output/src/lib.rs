//! The output service: formats inference results and delivers them to their destination,
//! at most once per (request, destination), retrying what is transient and dead-lettering
//! what is not.
//!
//! One delivery: check and format the request (bad input is refused before anything is
//! sent) → claim `(idempotency key or request id, destination)` in the ledger with a
//! conditional put → send, retrying with backoff and jitter → complete the claim with the
//! receipt and announce `AnswerDelivered`. A repeat gets the first receipt; a failure goes to
//! output's DLQ with the request and its cause, and `DeliveryFailed` goes on the bus.

#[cfg(feature = "aws")]
pub mod aws;
pub mod channels;
pub mod config;
pub mod escape;
pub mod format;
pub mod outbound;
pub mod prepare;
pub mod routes;
pub mod service;
pub mod signing;
pub mod slack;
pub mod spans;

pub use crate::config::{Config, Settings};
pub use crate::prepare::{valid_email, EVENT_SOURCE};
pub use crate::routes::{parse_message, Request};
pub use crate::service::{ledger_key, Channels, Service};
