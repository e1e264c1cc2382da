//! The local adapters carry a document from ingest to search: the sample upload is
//! ingested, processed from the in-process queue, indexed from the bus rule's queue into
//! the SQLite file, and found by the sample retrieve request.

use seams::LocalStack;
use seams_contracts::CorrelationId;
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

/// What `/retrieve` answers for "refunds damaged parcels" (keyword, top 100) once the local
/// pipeline, configured by `variables`, has taken in a long Markdown document.
async fn search_a_long_document(variables: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let variables = variables.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let stack = LocalStack::configured(dir.path(), variables).await.unwrap();
    let text: String =
        (0..30).map(|i| format!("Paragraph {i} explains how refunds are handled for damaged parcels.\n\n")).collect();
    let incoming = ingest::Incoming {
        document_id: Some("long".into()),
        source_uri: None,
        content_type: "text/markdown".into(),
        bytes: text.into_bytes(),
        attributes: Default::default(),
        tenant: None,
    };
    stack.ingest().ingest_bytes(incoming, &CorrelationId::new("c-1")).await.unwrap();
    assert!(stack.drain().await.unwrap().is_empty());
    let request = serde_json::json!({"query": "refunds damaged parcels", "top_k": 100, "search_mode": "keyword"});
    let response = function::handle(&stack.retrieve(), request).await.unwrap();
    response["results"].as_array().unwrap().clone()
}

/// How many chunks the local pipeline makes of a long document under `variables`.
async fn chunks_made(variables: &[(&str, &str)]) -> usize {
    search_a_long_document(variables).await.len()
}

#[tokio::test]
async fn the_services_tuning_variables_change_local_behaviour() {
    let default = chunks_made(&[]).await;
    let small = chunks_made(&[("SEAMS_CHUNK_MAX_TOKENS", "40"), ("SEAMS_CHUNK_OVERLAP_PERCENT", "0")]).await;
    assert!(small > default * 4, "40-token chunks ({small}) outnumber default ones ({default})");

    let dir = tempfile::tempdir().unwrap();
    let limited = [("SEAMS_INLINE_MAX_BYTES".to_owned(), "10".to_owned())].into();
    let stack = LocalStack::configured(dir.path(), limited).await.unwrap();
    let event = sample_event("ingest/http-post-documents.json");
    let refused = function::handle(&stack.ingest(), event).await.unwrap();
    assert_eq!(refused["statusCode"], 413, "{refused}");
    assert!(refused["body"].as_str().unwrap().contains("larger than 10 bytes"), "ingest's own limit: {refused}");

    let bad = [("SEAMS_CHUNK_OVERLAP_PERCENT".to_owned(), "150".to_owned())].into();
    let error = LocalStack::configured(dir.path(), bad).await.err().expect("a bad value is refused");
    assert!(error.contains("SEAMS_CHUNK_OVERLAP_PERCENT"), "{error}");
}

/// Built as the quick start builds it (without the `aws` feature), `seams` refuses a choice
/// that calls AWS at start, naming the choice and the feature that brings it.
#[cfg(not(feature = "aws"))]
#[tokio::test]
async fn a_choice_that_calls_aws_is_refused_naming_the_feature_that_brings_it() {
    let dir = tempfile::tempdir().unwrap();
    let choices: [&[(&str, &str)]; 5] = [
        &[("SEAMS_EMBEDDER", "bedrock")],
        &[("SEAMS_MODEL_PROVIDER", "bedrock"), ("SEAMS_MODEL_ID", "amazon.nova-lite-v1:0")],
        &[
            ("SEAMS_MODEL_PROVIDER", "openai"),
            ("SEAMS_MODEL_BASE_URL", "https://api.openai.com/v1"),
            ("SEAMS_MODEL_ID", "gpt-4o-mini"),
            ("SEAMS_MODEL_API_KEY_SECRET", "a-secret"),
        ],
        &[("SEAMS_RERANK_MODEL", "amazon.rerank-v1:0")],
        &[("SEAMS_GUARDRAIL", "bedrock"), ("SEAMS_GUARDRAIL_ID", "g1")],
    ];
    for choice in choices {
        let variables = choice.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        let error = LocalStack::configured(dir.path(), variables).await.err().expect("refused at start");
        assert!(error.contains(choice[0].0) && error.contains("--features aws"), "{choice:?}: {error}");
    }
}

/// SEAMS_CHUNKING through the whole pipeline: with `none` the document is one passage;
/// with `hierarchical` each search result is a parent, once, naming the child that matched.
#[tokio::test]
async fn the_chunking_strategy_shapes_what_retrieve_returns() {
    let whole = chunks_made(&[("SEAMS_CHUNKING", "none")]).await;
    assert_eq!(whole, 1);

    let results = search_a_long_document(&[
        ("SEAMS_CHUNKING", "hierarchical"),
        ("SEAMS_CHUNK_PARENT_TOKENS", "120"),
        ("SEAMS_CHUNK_MAX_TOKENS", "30"),
    ])
    .await;
    let parents: std::collections::BTreeSet<&str> =
        results.iter().map(|r| r["parent_chunk_id"].as_str().expect("every result is a parent")).collect();
    assert_eq!(parents.len(), results.len(), "each parent once: {results:?}");
    assert!(results.len() > 2 && results.len() < 30, "parents of ~120 tokens: {}", results.len());
    let first = &results[0];
    assert!(first["text"].as_str().unwrap().matches("Paragraph").count() > 2, "the parent's text: {first}");
}

#[tokio::test]
async fn the_local_model_sizes_chunks_and_finds_meaning() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/models/all-MiniLM-L6-v2");
    assert!(model.join("model.safetensors").is_file(), "run scripts/setup.sh: it installs the local model");
    let dir = tempfile::tempdir().unwrap();
    let variables = [
        ("SEAMS_EMBEDDER".to_owned(), "local".to_owned()),
        ("SEAMS_MODEL_DIR".to_owned(), model.to_string_lossy().into_owned()),
        // Larger than the model reads: chunks must still fit it.
        ("SEAMS_CHUNK_MAX_TOKENS".to_owned(), "1000".to_owned()),
    ]
    .into();
    let stack = LocalStack::configured(dir.path(), variables).await.unwrap();
    let documents = [
        ("refunds", "Damaged parcels are refunded in full within ten days of the claim. ".repeat(60)),
        ("avalanche", "Dig out a buried skier within fifteen minutes; survival drops fast after that.".into()),
    ];
    for (id, text) in documents {
        let incoming = ingest::Incoming {
            document_id: Some(id.into()),
            source_uri: None,
            content_type: "text/plain".into(),
            bytes: text.into_bytes(),
            attributes: Default::default(),
            tenant: None,
        };
        stack.ingest().ingest_bytes(incoming, &CorrelationId::new("c-1")).await.unwrap();
    }
    assert!(stack.drain().await.unwrap().is_empty(), "every chunk fits the model: none refused");

    let request =
        serde_json::json!({"query": "money back for broken deliveries", "top_k": 100, "search_mode": "vector"});
    let response = function::handle(&stack.retrieve(), request).await.unwrap();
    let results = response["results"].as_array().unwrap();
    assert!(results.len() > 2, "the long document was cut into several chunks: {response}");
    assert_eq!(results[0]["document_id"], "refunds", "no shared word, the same meaning: {response}");
    assert_eq!(response["embedding_model"], "all-MiniLM-L6-v2-local");
}

/// Every demo answer's citations point at sentences of the answer that carry their marks.
#[tokio::test]
async fn each_citation_spans_the_sentences_that_cite_it() {
    use std::sync::Arc;

    use seams::commands::{self, Question};
    let dir = tempfile::tempdir().unwrap();
    let stack = LocalStack::new(dir.path()).unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs").to_owned();
    let summary = commands::ingest_files(&stack, &[examples], |_, _, _| {}).await;
    assert!(summary.rejected.is_empty(), "{summary:?}");
    let stack = Arc::new(stack);
    let (mut spans_seen, mut most_spans) = (0, 0);
    for text in ["How long do card refunds take to appear?", "When are deployments not allowed?"] {
        let question = Question { text: text.into(), ..Question::default() };
        let execution = commands::ask(stack.clone(), &question).await.unwrap();
        let output = execution.output.unwrap();
        let answer: Vec<char> = output["answer"]["text"].as_str().unwrap().chars().collect();
        let citations = output["citations"].as_array().unwrap();
        assert!(!citations.is_empty(), "{output}");
        for citation in citations {
            let id = citation["id"].as_str().unwrap();
            let spans = citation["spans"].as_array().unwrap_or_else(|| panic!("no spans: {citation}"));
            for span in spans {
                let (start, end) = (span["start"].as_u64().unwrap() as usize, span["end"].as_u64().unwrap() as usize);
                let part: String = answer[start..end].iter().collect();
                // The mark is inside the sentence, or closes its run later in the paragraph.
                let rest_of_paragraph: String = answer[end..].iter().take_while(|c| **c != '\n').collect();
                assert!(
                    part.contains(&format!("{id}]")) || rest_of_paragraph.contains(&format!("{id}]")),
                    "{text}: {part:?} is not followed by [{id}]"
                );
                assert!(!part.trim().is_empty() && part.trim() == part, "{part:?}");
                spans_seen += 1;
            }
            most_spans = most_spans.max(spans.len());
        }
    }
    assert!(spans_seen >= 2);
    assert!(most_spans >= 2, "the deployment answer's one mark covers its run of sentences");
}
