//! How the answer workflow understands a question, through the whole local stack (offline
//! model, local embedder, the example corpus, whose documents carry a `category`):
//! - a question that asks two things two documents answer is retrieved for part by part and
//!   answered once, citing both (decomposition);
//! - a question naming a declared attribute value is retrieved within it, joined with the
//!   caller's own filters (implicit filters).

use std::sync::Arc;

use seams::commands::{self, Question};
use seams::LocalStack;
use serde_json::Value;

async fn ingested(variables: &[(&str, &str)]) -> (tempfile::TempDir, Arc<LocalStack>) {
    let data = tempfile::tempdir().unwrap();
    let variables = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let stack = LocalStack::configured(data.path(), variables).await.unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs").to_owned();
    let summary = commands::ingest_files(&stack, &[examples], |_, _, _| {}).await;
    assert!(summary.rejected.is_empty() && summary.failed_downstream.is_empty(), "{summary:?}");
    (data, Arc::new(stack))
}

// Decomposition.
const COMPOUND: &str = "What is the refund window for digital products and how long does standard shipping take?";

/// The documents the answer cites, in citation order, with `top_k` chunks (5 unset).
async fn cited(stack: &Arc<LocalStack>, decompose: Option<bool>, top_k: Option<u32>) -> Vec<String> {
    let question = Question { text: COMPOUND.into(), decompose, top_k, ..Question::default() };
    let execution = commands::ask(stack.clone(), &question).await.unwrap();
    let output = execution.output.unwrap_or_else(|e| panic!("{e:?}"));
    let citations = output["citations"].as_array().cloned().unwrap_or_default();
    citations.iter().filter_map(|c| c["document_id"].as_str().map(str::to_owned)).collect()
}

fn cites(documents: &[String], name: &str) -> bool {
    documents.iter().any(|d| d.ends_with(name))
}

#[tokio::test]
async fn a_compound_question_cites_the_refunds_and_the_shipping_page() {
    let (_data, stack) = ingested(&[]).await;
    let decomposed = cited(&stack, Some(true), None).await;
    assert!(cites(&decomposed, "refunds.md") && cites(&decomposed, "shipping.md"), "{decomposed:?}");
}

#[tokio::test]
async fn every_part_keeps_its_best_chunk_however_few_are_asked_for() {
    let (_data, stack) = ingested(&[]).await;
    let decomposed = cited(&stack, Some(true), Some(1)).await;
    assert!(cites(&decomposed, "refunds.md") && cites(&decomposed, "shipping.md"), "{decomposed:?}");
    // Asked whole, one chunk answers one part.
    let whole = cited(&stack, Some(false), Some(1)).await;
    assert_eq!(whole.len(), 1, "{whole:?}");
}

#[tokio::test]
async fn the_stack_default_decomposes_unless_the_request_refuses() {
    let (_data, stack) = ingested(&[("SEAMS_DECOMPOSE_QUESTIONS", "true")]).await;
    let by_default = cited(&stack, None, Some(1)).await;
    assert!(cites(&by_default, "refunds.md") && cites(&by_default, "shipping.md"), "{by_default:?}");
    let question = Question { text: COMPOUND.into(), decompose: Some(false), top_k: Some(1), ..Question::default() };
    let execution = commands::ask(stack.clone(), &question).await.unwrap();
    let states: Vec<Value> = execution.transitions.iter().map(|t| serde_json::to_value(t).unwrap()).collect();
    assert!(!format!("{states:?}").contains("RetrieveEach"), "decompose: false is kept");
}

// Implicit filters.

const CATEGORIES: &str = r#"[{"name": "category", "type": "string", "description": "the handbook section",
    "values": ["policies", "engineering", "people", "products"]}]"#;

/// The category of each chunk the answer was retrieved from.
async fn retrieved_categories(stack: &Arc<LocalStack>, question: Question) -> Vec<String> {
    let execution = commands::ask(stack.clone(), &question).await.unwrap();
    assert!(execution.output.is_ok(), "{:?}", execution.output);
    let chunks: Vec<Value> = commands::retrieved_chunks(&execution);
    chunks.iter().map(|c| c["metadata"]["category"].as_str().unwrap_or_default().to_owned()).collect()
}

const ASKED: &str = "What do the products pages say about refunds?";

#[tokio::test]
async fn a_question_naming_a_declared_value_is_retrieved_within_it() {
    let (_data, stack) = ingested(&[("SEAMS_FILTER_ATTRIBUTES", CATEGORIES)]).await;
    let question = Question { text: ASKED.into(), ..Question::default() };
    let categories = retrieved_categories(&stack, question).await;
    assert!(!categories.is_empty() && categories.iter().all(|c| c == "products"), "{categories:?}");

    // Without the declaration, the refunds policy comes first.
    let (_data, plain) = ingested(&[]).await;
    let categories = retrieved_categories(&plain, Question { text: ASKED.into(), ..Question::default() }).await;
    assert!(categories.iter().any(|c| c != "products"), "{categories:?}");
}

#[tokio::test]
async fn an_inferred_filter_narrows_the_callers_and_never_widens_them() {
    let (_data, stack) = ingested(&[("SEAMS_FILTER_ATTRIBUTES", CATEGORIES)]).await;
    let filters = vec![("category".to_owned(), "policies".to_owned())];
    let question = Question { text: ASKED.into(), filters, ..Question::default() };
    // policies and products at once: nothing is both.
    assert_eq!(retrieved_categories(&stack, question).await, Vec::<String>::new());
}

#[tokio::test]
async fn an_inferred_filter_that_would_pass_retrieves_limits_is_dropped_not_fatal() {
    let (_data, stack) = ingested(&[("SEAMS_FILTER_ATTRIBUTES", CATEGORIES)]).await;
    // The caller's filter at retrieve's most tests: joined with the proposal it would hold one
    // more, which retrieve refuses. Each key is missing from every chunk, so nothing matches.
    let filters =
        (0..seams_contracts::retrieve::MAX_FILTER_TESTS).map(|i| (format!("absent{i}"), "x".to_owned())).collect();
    let question = Question { text: ASKED.into(), filters, ..Question::default() };
    let execution = commands::ask(stack.clone(), &question).await.unwrap();
    assert!(execution.output.is_ok(), "{:?}", execution.output);
    assert!(commands::retrieved_chunks(&execution).is_empty());
}
