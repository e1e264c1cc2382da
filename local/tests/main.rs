//! The crate's integration tests as one binary: each file is a module, so the
//! dependencies are linked once rather than once per file (decision 0035).

mod common;

mod agents;
mod answer_faults;
mod asl;
mod cli;
mod guardrail;
mod http_edges;
mod invoke;
mod metrics;
mod openapi;
mod pipeline;
mod sessions;
mod state_limits;
mod statuses;
mod tenants;
mod understanding;
