//! The crate's integration tests as one binary: each file is a module, so the
//! dependencies are linked once rather than once per file (decision 0035).

mod support;
// The benches' synthetic corpus, for a test that needs its size.
#[path = "../examples/support/corpus.rs"]
mod corpus;

mod conformance;
mod http;
mod moto;
mod rerank;
mod segments;
mod startup;
