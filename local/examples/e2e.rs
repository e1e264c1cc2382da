//! End to end on one machine, for bench/run.sh: how long `seams ingest` takes to make N
//! documents searchable (ingest, process, index), then the answer workflow's latency
//! (retrieve, offline model, deliver) over Q questions.
//!
//! `cargo run --release -p seams --example e2e -- 1000 100` prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use seams::commands::{self, Question};
use seams::LocalStack;

const TOPICS: [&str; 8] = ["refunds", "shipping", "warranty", "deployments", "on-call", "expenses", "travel", "tents"];

/// A few hundred words on one topic, distinct per document.
fn document(i: usize) -> String {
    let topic = TOPICS[i % TOPICS.len()];
    let mut text = format!(
        "# {topic} note {i}\n\nThis note ({i}) records how the {topic} process works in region {}.\n\n",
        i % 17
    );
    text.push_str(&process::corpus::markdown(1500 + (i % 7) * 300));
    text.push_str(&format!("\n\nFor {topic} questions about case {i}, contact team {}.\n", i % 23));
    text
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut arguments = std::env::args().skip(1);
    let documents: usize = arguments.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let questions: usize = arguments.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let data = tempfile::tempdir().expect("a temporary directory");
    let docs = data.path().join("docs");
    std::fs::create_dir_all(&docs).expect("the docs directory");
    let mut bytes = 0;
    for i in 0..documents {
        let text = document(i);
        bytes += text.len();
        std::fs::write(docs.join(format!("note-{i:05}.md")), text).expect("a document is written");
    }
    let stack = LocalStack::new(&data.path().join("seams")).expect("the local stack opens");

    let started = Instant::now();
    let summary = commands::ingest_files(&stack, &[docs.to_string_lossy().into_owned()], |_, _, _| {}).await;
    let ingest_seconds = started.elapsed().as_secs_f64();
    assert_eq!(summary.ingested.len(), documents, "rejected: {:?}", summary.rejected);
    assert!(summary.failed_downstream.is_empty(), "{:?}", summary.failed_downstream);

    let stack = Arc::new(stack);
    let mut latencies = Vec::new();
    for q in 0..questions {
        let topic = TOPICS[q % TOPICS.len()];
        let question =
            Question { text: format!("How does the {topic} process work for case {q}?"), ..Question::default() };
        let started = Instant::now();
        let execution = commands::ask(stack.clone(), &question).await.expect("the answer definition runs");
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(execution.output.is_ok(), "{:?}", execution.output);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "{{\"documents\": {documents}, \"mib\": {:.2}, \"ingest_to_searchable_s\": {ingest_seconds:.2}, \"documents_per_s\": {:.1}, \"questions\": {questions}, \"answer_p50_ms\": {:.2}, \"answer_p99_ms\": {:.2}}}",
        bytes as f64 / (1024.0 * 1024.0),
        documents as f64 / ingest_seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
}
