//! The local adapters carry a document from ingest to search: the sample upload is
//! ingested, processed from the in-process queue, indexed from the bus rule's queue into
//! the SQLite file, and found by the sample retrieve request.

use seams::LocalStack;
use seams_platform::function;
use seams_tests::{sample_event, sqs_poller};

#[tokio::test]
async fn the_sample_document_is_found_by_the_sample_query() {
    let dir = tempfile::tempdir().unwrap();
    let stack = LocalStack::new(dir.path()).unwrap();
    let created = function::handle(&stack.ingest(), sample_event("ingest/http-post-documents.json")).await.unwrap();
    assert_eq!(created["statusCode"], 202, "{created}");

    let process = stack.process();
    assert!(sqs_poller::deliver(stack.process_queue.as_ref(), |event| process.handle_batch(event)).await.is_empty());
    let indexer = stack.indexer();
    assert!(sqs_poller::deliver(stack.indexer_queue.as_ref(), |event| indexer.handle_batch(event)).await.is_empty());

    let response = function::handle(&stack.retrieve(), sample_event("retrieve/invoke-retrieve.json")).await.unwrap();
    let results = response["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{response}");
    assert_eq!(results[0]["document_id"], "refund-policy");
    assert_eq!(results[0]["citation"]["source_uri"], "https://intranet.example.com/policies/refunds");
    assert_eq!(results[0]["ranks"]["keyword"], 1);
    assert!(dir.path().join("retrieve/index.sqlite").exists());

    // The index is a file: a new stack on the same directory finds the document again.
    drop(stack);
    let reopened = LocalStack::new(dir.path()).unwrap();
    let again = function::handle(&reopened.retrieve(), sample_event("retrieve/invoke-retrieve.json")).await.unwrap();
    assert_eq!(again["results"][0]["document_id"], "refund-policy");
}
