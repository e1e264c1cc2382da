//! The crate's integration tests as one binary: each file is a module, so the
//! dependencies are linked once rather than once per file (decision 0035).

mod http;
mod providers;
mod startup;
