//! Wire types of every seams API body, queue message and event.
//!
//! Every type carries a `schema_version` and has a JSON Schema generated from it and
//! committed under `shared/contracts/schemas/` (see [`schemas`]). The two public request
//! shapes from the seed (`POST /inference`, `POST /retrieve`) are accepted exactly as written:
//! `schema_version` defaults to 1 when absent.

pub mod answer;
pub mod common;
pub mod decompose;
pub mod error;
mod event_registry;
pub mod events;
pub mod guardrail;
pub mod implicit_filter;
pub mod infer;
pub mod ingest;
pub mod output;
pub mod process;
pub mod retrieve;
mod schemas;
pub mod session;
mod version;

pub use common::{AttributeValue, Attributes, CorrelationId, ObjectRef};
pub use error::{ErrorName, Problem};
pub use event_registry::event_registry_schemas;
pub use schemas::{detached, schemas};
pub use version::V1;
