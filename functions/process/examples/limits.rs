//! The largest documents process admits, through the service itself (read from the raw
//! bucket, extract, clean, chunk, hashing embed, record written, event published) with the
//! deployed defaults (`SEAMS_MAX_CHUNKS` 20,000): time, outcome and peak RSS, to check the
//! template's timeout and memory. One document per run, so the peak is its own:
//!
//! `cargo run --release -p process --example limits -- <markdown|pdf> <MiB> [strategy]`, or
//! `-- file <path> [strategy]` for a document of your own (its type from its extension).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use process::{corpus, Service, Settings};
use seams_contracts::ingest::ProcessDocument;
use seams_contracts::{AttributeValue, Attributes, CorrelationId, ObjectRef, V1};
use seams_embeddings::hashing::HashingEmbedder;
use seams_platform::event_bus::LocalEventBus;
use seams_platform::object_store::{FsObjectStore, ObjectStore, PutOptions};

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    kib / 1024
}

fn content_type_of(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("pdf") => "application/pdf",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        _ => "text/markdown",
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let format = arguments.next().unwrap_or_else(|| "markdown".into());
    let size = arguments.next().unwrap_or_else(|| "1".into());
    let strategy = arguments.next();
    let mib = || size.parse::<usize>().unwrap_or(1) * 1024 * 1024;
    let (content_type, body) = match format.as_str() {
        "pdf" => ("application/pdf", corpus::pdf(mib())),
        "file" => (content_type_of(&size), std::fs::read(&size)?),
        _ => ("text/markdown", corpus::markdown(mib()).into_bytes()),
    };
    let dir = tempfile::tempdir()?;
    let raw = Arc::new(FsObjectStore::new(dir.path().join("raw")));
    let records = Arc::new(FsObjectStore::new(dir.path().join("records")));
    let byte_size = body.len() as u64;
    raw.put("raw/big/1", Bytes::from(body), PutOptions::default()).await?;
    let before = peak_rss_mib();
    let service = Service::new(
        raw.clone(),
        records.clone(),
        Arc::new(LocalEventBus::new()),
        Arc::new(HashingEmbedder::default()),
        Settings::default(),
    );
    let mut attributes = Attributes::new();
    if let Some(strategy) = strategy {
        attributes.insert("chunking".into(), AttributeValue::String(strategy));
    }
    let claim = ProcessDocument {
        schema_version: V1,
        correlation_id: CorrelationId::new("limits"),
        document_id: "big".into(),
        version: 1,
        fingerprint: "sha256:big".into(),
        content_type: content_type.into(),
        byte_size,
        source_uri: None,
        attributes,
        raw: ObjectRef { bucket: raw.location().into(), key: "raw/big/1".into() },
        inline_content: None,
        ingested_at: Utc::now(),
    };
    let started = Instant::now();
    let outcome = match service.process_document(&claim).await {
        Ok(()) => {
            let record = records.get(&process::record::record_key("big", 1)).await?;
            let header = record.body.split(|b| *b == b'\n').next().unwrap_or_default();
            let header: seams_contracts::process::RecordHeader = serde_json::from_slice(header)?;
            format!("processed: {} chunks, record {} MiB", header.chunk_count, record.body.len() / (1024 * 1024))
        }
        Err(error) => format!("refused: {error}"),
    };
    println!(
        "{{\"format\": \"{format}\", \"mib\": {:.1}, \"seconds\": {:.2}, \"peak_rss_mib\": {}, \"rss_before_mib\": {before}, \"outcome\": {:?}}}",
        byte_size as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64(),
        peak_rss_mib(),
        outcome
    );
    Ok(())
}
