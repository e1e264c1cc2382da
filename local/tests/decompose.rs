//! Query decomposition through the whole local answer workflow (offline model, local
//! embedder, the example corpus): a question that asks two things two documents answer is
//! retrieved for part by part and answered once, citing both.

use std::sync::Arc;

use seams::commands::{self, Question};
use seams::LocalStack;
use serde_json::Value;

const COMPOUND: &str = "What is the refund window for digital products and how long does standard shipping take?";

async fn stack(variables: &[(&str, &str)]) -> (tempfile::TempDir, Arc<LocalStack>) {
    let data = tempfile::tempdir().unwrap();
    let variables = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let stack = LocalStack::configured(data.path(), variables).await.unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs").to_owned();
    let summary = commands::ingest_files(&stack, &[examples], |_, _, _| {}).await;
    assert!(summary.rejected.is_empty() && summary.failed_downstream.is_empty(), "{summary:?}");
    (data, Arc::new(stack))
}

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
    let (_data, stack) = stack(&[]).await;
    let decomposed = cited(&stack, Some(true), None).await;
    assert!(cites(&decomposed, "refunds.md") && cites(&decomposed, "shipping.md"), "{decomposed:?}");
}

#[tokio::test]
async fn every_part_keeps_its_best_chunk_however_few_are_asked_for() {
    let (_data, stack) = stack(&[]).await;
    let decomposed = cited(&stack, Some(true), Some(1)).await;
    assert!(cites(&decomposed, "refunds.md") && cites(&decomposed, "shipping.md"), "{decomposed:?}");
    // Asked whole, one chunk answers one part.
    let whole = cited(&stack, Some(false), Some(1)).await;
    assert_eq!(whole.len(), 1, "{whole:?}");
}

#[tokio::test]
async fn the_stack_default_decomposes_unless_the_request_refuses() {
    let (_data, stack) = stack(&[("SEAMS_DECOMPOSE_QUESTIONS", "true")]).await;
    let by_default = cited(&stack, None, Some(1)).await;
    assert!(cites(&by_default, "refunds.md") && cites(&by_default, "shipping.md"), "{by_default:?}");
    let question = Question { text: COMPOUND.into(), decompose: Some(false), top_k: Some(1), ..Question::default() };
    let execution = commands::ask(stack.clone(), &question).await.unwrap();
    let states: Vec<Value> = execution.transitions.iter().map(|t| serde_json::to_value(t).unwrap()).collect();
    assert!(!format!("{states:?}").contains("RetrieveEach"), "decompose: false is kept");
}
