//! The ingest service: the front door of the pipeline. It accepts documents from the HTTP
//! API, from presigned uploads to its bucket and from upstream `DocumentPublished` events,
//! refuses what is bad with a clear reason, makes text clean UTF-8, stores each distinct
//! document version once, and hands it to processing through the queue (a claim check).
//! It knows nothing of what happens downstream.

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod locate;
pub mod normalise;
pub mod prepare;
pub mod routes;
pub mod service;
pub mod store;
pub mod validate;

pub use crate::config::{Config, Settings};
pub use crate::prepare::{fingerprint_hex, Incoming, Prepared};
pub use crate::routes::Request;
pub use crate::service::Service;
