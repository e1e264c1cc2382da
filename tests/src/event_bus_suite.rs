//! What every `EventBus` promises, run against EventBridge (moto, rule → SQS target) and the
//! in-process bus alike. The queue behind `rule_target` receives events matching
//! `DocumentProcessed` and `DocumentDeleted` only.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::DocumentIngested;
use seams_contracts::process::{DocumentProcessed, EmbeddingModel};
use seams_contracts::{CorrelationId, ObjectRef, V1};
use seams_platform::event_bus::{EventBus, EventPattern, OutgoingEvent};
use seams_platform::queue::Queue;

pub fn indexer_pattern() -> EventPattern {
    EventPattern::detail_types(&[DocumentProcessed::DETAIL_TYPE, "DocumentDeleted"])
}

fn processed() -> DocumentProcessed {
    DocumentProcessed {
        schema_version: V1,
        correlation_id: CorrelationId::new("corr-7"),
        document_id: "doc-7".into(),
        version: 2,
        fingerprint: "sha256:ab".into(),
        record: ObjectRef { bucket: "records".into(), key: "records/doc-7/2.jsonl".into() },
        chunk_count: 3,
        token_count: 420,
        embedding: EmbeddingModel { model: "hashing-384".into(), dims: 384 },
    }
}

pub async fn a_matching_event_reaches_the_rule_target_in_the_eventbridge_envelope(
    bus: Arc<dyn EventBus>,
    rule_target: Arc<dyn Queue>,
) {
    let detail = processed();
    bus.publish(vec![OutgoingEvent::from_detail(&detail).unwrap()]).await.unwrap();
    let received = rule_target.receive(1, Duration::from_secs(3)).await.unwrap();
    assert_eq!(received.len(), 1, "the event reached the target queue");
    let envelope: EventBridgeEvent<DocumentProcessed> = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(envelope.detail_type, "DocumentProcessed");
    assert_eq!(envelope.source, "seams.process");
    assert_eq!(envelope.detail, detail);
}

pub async fn a_non_matching_event_is_not_delivered(bus: Arc<dyn EventBus>, rule_target: Arc<dyn Queue>) {
    let ingested = DocumentIngested {
        schema_version: V1,
        correlation_id: CorrelationId::new("corr-8"),
        document_id: "doc-8".into(),
        version: 1,
        fingerprint: "sha256:cd".into(),
        content_type: "text/plain".into(),
        byte_size: 5,
        raw: ObjectRef { bucket: "raw".into(), key: "raw/doc-8".into() },
    };
    bus.publish(vec![OutgoingEvent::from_detail(&ingested).unwrap()]).await.unwrap();
    assert!(rule_target.receive(1, Duration::from_secs(1)).await.unwrap().is_empty());
}

pub async fn more_than_ten_events_are_all_published(bus: Arc<dyn EventBus>, rule_target: Arc<dyn Queue>) {
    let events: Vec<_> = (0..12)
        .map(|i| {
            let mut detail = processed();
            detail.document_id = format!("doc-{i}");
            OutgoingEvent::from_detail(&detail).unwrap()
        })
        .collect();
    bus.publish(events).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 12 && tokio::time::Instant::now() < deadline {
        for message in rule_target.receive(10, Duration::from_secs(1)).await.unwrap() {
            let envelope: EventBridgeEvent<DocumentProcessed> = serde_json::from_str(&message.body).unwrap();
            seen.insert(envelope.detail.document_id);
            rule_target.delete(&message.receipt_handle).await.unwrap();
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
}
