//! The crate's integration tests as one binary: each file is a module, so the
//! dependencies are linked once rather than once per file (decision 0035).

mod adapters;
mod events;
mod faults;
mod lambda_env;
mod pgvector;
mod state_machines;
mod template;
mod xray;
