//! The pipeline under injected faults: ingest → process → indexer against moto through a
//! proxy that answers a fifth of all AWS calls with a 500, a 503, a throttle, a reset
//! connection or an answer after the client's timeout (half of them after moto acted). Every
//! document must end indexed exactly once (one version, its chunks once) or in a dead-letter
//! queue; none may be lost. `SEAMS_FAULT_DOCUMENTS` sets the size (the bench runs 1,000).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use seams_contracts::CorrelationId;
use seams_embeddings::hashing::HashingEmbedder;
use seams_embeddings::Embedder;
use seams_platform::event_bus::EventBridgeBus;
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::queue::{poller, Queue, SqsQueue};
use seams_tests::fault_proxy::FaultProxy;
use seams_tests::stack::Moto;

const FAULT_SHARE: f64 = 0.2;
/// How often a client sends a document before giving up.
const TRIES: u32 = 30;
/// The clients give up on an attempt after this; a delayed answer comes later.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

fn documents() -> usize {
    std::env::var("SEAMS_FAULT_DOCUMENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(40)
}

/// The document ids of the messages a dead-letter queue holds (taken off it).
async fn dead_lettered(queue: &dyn Queue, into: &mut BTreeSet<String>) {
    while let Ok(messages) = queue.receive(10, Duration::from_millis(200)).await {
        if messages.is_empty() {
            return;
        }
        for message in messages {
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap_or_default();
            let id = body["document_id"].as_str().or_else(|| body["detail"]["document_id"].as_str());
            into.extend(id.map(str::to_owned));
            let _ = queue.delete(&message.receipt_handle).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_a_fifth_of_calls_faulted_every_document_is_indexed_once_or_dead_lettered() {
    let moto = Moto::connect().await;
    let proxy = FaultProxy::start(&moto.endpoint, FAULT_SHARE, ATTEMPT_TIMEOUT * 2, 20).await;
    let (settings, sdk) = proxy.sdk(&moto, ATTEMPT_TIMEOUT).await;
    let s3 = settings.s3(&sdk);
    let sqs = seams_platform::aws::sqs(&sdk);

    // The resources, made on moto directly; only the services' own calls are faulted.
    let (raw_bucket, records_bucket) = (moto.create_bucket().await, moto.create_bucket().await);
    let (process_dlq_url, process_dlq_arn) = moto.create_queue(1, None).await;
    let (process_url, _) = moto.create_queue(1, Some((&process_dlq_arn, 5))).await;
    let (indexer_dlq_url, indexer_dlq_arn) = moto.create_queue(1, None).await;
    let (indexer_url, indexer_arn) = moto.create_queue(1, Some((&indexer_dlq_arn, 5))).await;
    let bus_name = moto.create_bus_with_rule(&seams_platform::routes::indexer_rule(), &indexer_arn).await;

    let raw: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(s3.clone(), &raw_bucket));
    let records: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(s3, &records_bucket));
    let (process_url_direct, indexer_url_direct) = (process_url.clone(), indexer_url.clone());
    let process_queue = Arc::new(SqsQueue::new(sqs.clone(), process_url));
    let indexer_queue = Arc::new(SqsQueue::new(sqs.clone(), indexer_url));
    let bus = Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(&sdk), bus_name));
    let embedder = Arc::new(HashingEmbedder::default());
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("index.sqlite");
    let index = Arc::new(retrieve::sqlite::SqliteIndex::open(&index_path, embedder.model().clone()).unwrap());
    let ingest =
        ingest::Service::new(raw.clone(), process_queue.clone(), bus.clone(), Default::default(), Default::default());
    let process = process::Service::new(raw, records.clone(), bus, embedder, Default::default());
    let indexer = retrieve::indexer::Indexer::new(index, records);

    // Clients send each document, and send it again on a transient error (ingest is
    // idempotent), as an HTTP client does on a 503. At a sustained fifth of calls faulted the
    // SDK's retry quota runs dry, so a try often ends at the first fault: clients keep trying.
    let count = documents();
    let started = Instant::now();
    let refused: Vec<String> = futures::stream::iter(0..count)
        .map(|i| {
            let ingest = &ingest;
            async move {
                let id = format!("doc-{i:04}");
                let mut last = String::new();
                for attempt in 0..TRIES {
                    let incoming = ingest::Incoming {
                        document_id: Some(id.clone()),
                        source_uri: None,
                        content_type: "text/plain".into(),
                        bytes: format!("Document {i} is about topic{i} and nothing else.").into_bytes(),
                        attributes: Default::default(),
                        tenant: None,
                    };
                    match ingest.ingest_bytes(incoming, &CorrelationId::new(format!("c-{i}"))).await {
                        Ok(_) => return None,
                        Err(error) if error.name.is_retryable() => {
                            last = error.to_string();
                            tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                        }
                        Err(error) => return Some(format!("{id}: {error}")),
                    }
                }
                Some(format!("{id}: still failing after {TRIES} tries: {last}"))
            }
        })
        .buffer_unordered(16)
        .filter_map(|refused| async move { refused })
        .collect()
        .await;
    assert_eq!(refused, Vec::<String>::new(), "every document was accepted");

    // The event source mappings, until every document is indexed or dead-lettered.
    let (process_dlq, indexer_dlq) = (SqsQueue::new(sqs.clone(), process_dlq_url), SqsQueue::new(sqs, indexer_dlq_url));
    let mut dead = BTreeSet::new();
    let mut indexed = Vec::new();
    // Until every document is accounted for, or nothing is left in flight: a document neither
    // indexed nor dead-lettered while both queues are empty is lost.
    let deadline = Instant::now() + Duration::from_secs(120 + 2 * count as u64);
    let mut idle_rounds = 0;
    while Instant::now() < deadline && idle_rounds < 3 {
        let _ = poller::deliver(process_queue.as_ref(), |event| process.handle_batch(event)).await;
        let _ = poller::deliver(indexer_queue.as_ref(), |event| indexer.handle_batch(event)).await;
        dead_lettered(&process_dlq, &mut dead).await;
        dead_lettered(&indexer_dlq, &mut dead).await;
        indexed = indexed_documents(&index_path);
        let accounted: BTreeSet<&String> = indexed.iter().map(|(id, _, _)| id).chain(&dead).collect();
        if accounted.len() == count {
            break;
        }
        let in_flight = queued(&moto, &process_url_direct).await + queued(&moto, &indexer_url_direct).await;
        idle_rounds = if in_flight == 0 { idle_rounds + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let still_queued = queued(&moto, &process_url_direct).await + queued(&moto, &indexer_url_direct).await;
    let elapsed = started.elapsed();

    let indexed_ids: BTreeSet<&String> = indexed.iter().map(|(id, _, _)| id).collect();
    let lost: Vec<String> = (0..count)
        .map(|i| format!("doc-{i:04}"))
        .filter(|id| !indexed_ids.contains(id) && !dead.contains(id))
        .collect();
    let twice: Vec<&(String, i64, i64)> =
        indexed.iter().filter(|(_, version, chunks)| *version != 1 || *chunks != 1).collect();
    println!(
        "faults: {count} documents, {} indexed, {} dead-lettered, {} not accounted for ({still_queued} messages \
         still queued), {} indexed twice; {} calls, faults {:?} ({} after moto acted); {:.1} s",
        indexed.len(),
        dead.len(),
        lost.len(),
        twice.len(),
        proxy.requests(),
        proxy.faults(),
        proxy.counts.after_moto.load(std::sync::atomic::Ordering::Relaxed),
        elapsed.as_secs_f64(),
    );
    assert_eq!(lost, Vec::<String>::new(), "lost documents");
    assert_eq!(twice, Vec::<&(String, i64, i64)>::new(), "a second version or a chunk twice");
    let injected = proxy.injected();
    assert!(injected as f64 > 0.1 * proxy.requests() as f64, "{injected} faults over {} calls", proxy.requests());
}

/// Messages on a queue, visible or in flight, asked of moto directly (not through the faults).
async fn queued(moto: &Moto, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName;
    let names =
        [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible];
    let asked = moto.sqs().get_queue_attributes().queue_url(url).set_attribute_names(Some(names.to_vec())).send().await;
    let attributes = asked.expect("moto answers").attributes.unwrap_or_default();
    names.iter().filter_map(|name| attributes.get(name)?.parse::<u64>().ok()).sum()
}

/// Each indexed document's id, version and chunk count, read from the index file.
fn indexed_documents(path: &std::path::Path) -> Vec<(String, i64, i64)> {
    let connection = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT d.document_id, d.version, (SELECT count(*) FROM chunks c WHERE c.document_id = d.document_id) \
             FROM documents d WHERE d.deleted_at IS NULL ORDER BY d.document_id",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
