//! process end to end against moto: claim checks on an SQS queue with a DLQ, ingest's and
//! process's buckets in S3, and `DocumentProcessed` reaching a queue through an EventBridge rule.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use bytes::Bytes;
use chrono::Utc;
use process::{Service, Settings};
use seams_contracts::ingest::ProcessDocument;
use seams_contracts::process::{ChunkRecord, DocumentProcessed, RecordHeader};
use seams_contracts::{Attributes, CorrelationId, ObjectRef, V1};
use seams_embeddings::hashing::HashingEmbedder;
use seams_platform::event_bus::{EventBridgeBus, EventPattern};
use seams_platform::object_store::{ObjectStore, PutOptions, S3ObjectStore};
use seams_platform::queue::{OutgoingMessage, Queue, SqsQueue};
use seams_tests::stack::Moto;
use seams_tests::{drain, sqs_poller};

struct World {
    service: Arc<Service>,
    raw: Arc<dyn ObjectStore>,
    records: Arc<dyn ObjectStore>,
    queue: Arc<dyn Queue>,
    dead_letter: Arc<dyn Queue>,
    events: Arc<dyn Queue>,
}

async fn world() -> World {
    let moto = Moto::connect().await;
    let raw: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(moto.s3(), moto.create_bucket().await));
    let records: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(moto.s3(), moto.create_bucket().await));
    let (dlq_url, dlq_arn) = moto.create_queue(1, None).await;
    let (queue_url, _) = moto.create_queue(1, Some((&dlq_arn, 2))).await;
    let (events_url, events_arn) = moto.create_queue(30, None).await;
    let bus_name = moto.create_bus_with_rule(&EventPattern::detail_types(&["DocumentProcessed"]), &events_arn).await;
    let service = Service::new(
        raw.clone(),
        records.clone(),
        Arc::new(EventBridgeBus::new(moto.eventbridge(), bus_name)),
        Arc::new(HashingEmbedder::default()),
        Settings::default(),
    );
    World {
        service: Arc::new(service),
        raw,
        records,
        queue: Arc::new(SqsQueue::new(moto.sqs(), queue_url)),
        dead_letter: Arc::new(SqsQueue::new(moto.sqs(), dlq_url)),
        events: Arc::new(SqsQueue::new(moto.sqs(), events_url)),
    }
}

fn claim(world: &World, document_id: &str, content_type: &str, inline: Option<&str>) -> ProcessDocument {
    ProcessDocument {
        schema_version: V1,
        correlation_id: CorrelationId::new(format!("corr-{document_id}")),
        document_id: document_id.into(),
        version: 1,
        fingerprint: format!("sha256:{document_id}"),
        content_type: content_type.into(),
        byte_size: inline.map_or(0, |t| t.len() as u64),
        source_uri: None,
        attributes: Attributes::new(),
        raw: ObjectRef { bucket: world.raw.location().into(), key: format!("raw/{document_id}/x") },
        inline_content: inline.map(str::to_owned),
        ingested_at: Utc::now(),
    }
}

async fn send(world: &World, body: String) {
    world.queue.send(OutgoingMessage::new(body).with_attribute(CorrelationId::ATTRIBUTE, "corr-batch")).await.unwrap();
}

async fn deliver(world: &World) -> Vec<String> {
    let service = world.service.clone();
    sqs_poller::deliver(world.queue.as_ref(), move |event| {
        let service = service.clone();
        async move { service.handle_batch(event).await }
    })
    .await
}

#[tokio::test]
async fn a_batch_of_ten_with_two_poison_messages() {
    let world = world().await;
    for i in 0..8 {
        let text = format!("# Policy {i}\n\nRefunds for product line {i} are issued within {} days.", 10 + i);
        send(&world, serde_json::to_string(&claim(&world, &format!("doc-{i}"), "text/markdown", Some(&text))).unwrap())
            .await;
    }
    send(&world, "{this is not a claim check".into()).await;
    let missing = claim(&world, "gone", "text/plain", None); // its raw object does not exist
    send(&world, serde_json::to_string(&missing).unwrap()).await;

    let failed = deliver(&world).await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(world.records.list("records/").await.unwrap().len(), 8);
    let processed: Vec<DocumentProcessed> = drain(world.events.as_ref(), Duration::from_millis(1500))
        .await
        .iter()
        .map(|m| serde_json::from_str::<EventBridgeEvent<DocumentProcessed>>(&m.body).unwrap().detail)
        .collect();
    assert_eq!(processed.len(), 8);
    assert!(processed.iter().all(|p| p.chunk_count >= 1 && p.embedding.dims == 384));

    // SQS redelivers the two after the visibility timeout; past maxReceiveCount (2) they
    // are in the dead-letter queue, and nothing else is.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(deliver(&world).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(deliver(&world).await.is_empty());
    assert_eq!(drain(world.dead_letter.as_ref(), Duration::from_millis(1500)).await.len(), 2);
}

#[tokio::test]
async fn the_record_is_json_lines_of_header_and_embedded_chunks() {
    let world = world().await;
    let html = "<html><head><title>Travel policy</title></head><body><nav>Menu</nav><h1>Travel</h1><h2>Trains</h2><p>Book trains over flights for trips under four hours. The company pays for a second class ticket, and for a seat reservation when the journey is longer than two hours.</p></body></html>";
    world.raw.put("raw/travel/x", Bytes::from(html), PutOptions::default()).await.unwrap();
    let mut claim = claim(&world, "travel", "text/html", None);
    claim.attributes.insert("category".into(), seams_contracts::AttributeValue::String("policy".into()));
    world.service.process_document(&claim).await.unwrap();

    let record = world.records.get("records/travel/0000000001.jsonl").await.unwrap();
    let text = std::str::from_utf8(&record.body).unwrap();
    let mut lines = text.lines();
    let header: RecordHeader = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!((header.title.as_deref(), header.language.as_deref()), (Some("Travel policy"), Some("eng")));
    assert_eq!(header.embedding.model, "seams-hashing-v1-384");
    assert_eq!(header.attributes["category"], seams_contracts::AttributeValue::String("policy".into()));
    let chunks: Vec<ChunkRecord> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(chunks.len() as u32, header.chunk_count);
    assert_eq!(chunks[0].chunk_id, "travel:1:0");
    assert_eq!(chunks[0].heading_path, ["Travel"], "the headings in force where the chunk starts");
    assert!(chunks[0].text.contains("Book trains") && !chunks[0].text.contains("Menu"));
    assert_eq!(chunks[0].embedding.len(), 384);

    // Reprocessing the same claim check leaves the same record at the same key.
    world.service.process_document(&claim).await.unwrap();
    assert_eq!(world.records.get("records/travel/0000000001.jsonl").await.unwrap().body, record.body);
}

#[tokio::test]
async fn a_pdf_is_cited_by_page_without_its_running_header_and_footer() {
    let world = world().await;
    let pdf = include_bytes!("fixtures/handbook.pdf");
    world.raw.put("raw/handbook/x", Bytes::from_static(pdf), PutOptions::default()).await.unwrap();
    let claim = claim(&world, "handbook", "application/pdf", None);
    world.service.process_document(&claim).await.unwrap();

    let record = world.records.get("records/handbook/0000000001.jsonl").await.unwrap();
    let mut lines = std::str::from_utf8(&record.body).unwrap().lines();
    let header: RecordHeader = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header.title.as_deref(), Some("Expenses"));
    let chunks: Vec<ChunkRecord> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    let all: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join("\n");
    assert!(!all.contains("ACME Employee Handbook") && !all.contains("of 3"), "page furniture kept:\n{all}");
    assert!(all.contains("reimbursement form"), "hyphenation across lines not joined:\n{all}");
    assert!(chunks.iter().all(|c| c.page.is_some()), "every chunk cites a page");
    assert_eq!(chunks[0].page, Some(1));
}
