//! What every `Queue` promises, run against SQS (moto) and the in-process queue alike.
//! Queues under test have a 1 s visibility timeout; redriven ones move to their DLQ after 2
//! receives.

use std::sync::Arc;
use std::time::Duration;

use seams_contracts::CorrelationId;
use seams_platform::queue::{OutgoingMessage, Queue, QueueError, MAX_MESSAGE_BYTES};

pub const VISIBILITY: Duration = Duration::from_secs(1);
pub const MAX_RECEIVE_COUNT: u32 = 2;
const WAIT: Duration = Duration::from_secs(2);

pub async fn a_sent_message_is_received_with_its_attributes(queue: Arc<dyn Queue>) {
    let sent = OutgoingMessage::new(r#"{"document_id":"doc-1"}"#).with_attribute(CorrelationId::ATTRIBUTE, "corr-1");
    let id = queue.send(sent).await.unwrap();
    let received = queue.receive(10, WAIT).await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message_id, id);
    assert_eq!(received[0].body, r#"{"document_id":"doc-1"}"#);
    assert_eq!(received[0].attributes.get(CorrelationId::ATTRIBUTE).map(String::as_str), Some("corr-1"));
    assert_eq!(received[0].receive_count, 1);
}

pub async fn a_deleted_message_does_not_come_back(queue: Arc<dyn Queue>) {
    queue.send(OutgoingMessage::new("once")).await.unwrap();
    let received = queue.receive(1, WAIT).await.unwrap();
    queue.delete(&received[0].receipt_handle).await.unwrap();
    tokio::time::sleep(VISIBILITY + Duration::from_millis(200)).await;
    assert!(queue.receive(10, Duration::from_millis(200)).await.unwrap().is_empty());
}

pub async fn an_undeleted_message_returns_after_the_visibility_timeout(queue: Arc<dyn Queue>) {
    queue.send(OutgoingMessage::new("again")).await.unwrap();
    let first = queue.receive(1, WAIT).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "hidden while in flight");
    tokio::time::sleep(VISIBILITY + Duration::from_millis(200)).await;
    let second = queue.receive(1, WAIT).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].body, "again");
    assert_eq!(second[0].receive_count, 2);
}

/// `queue` redrives to `dead_letter` after [`MAX_RECEIVE_COUNT`] receives.
pub async fn a_message_moves_to_the_dlq_after_max_receive_count(queue: Arc<dyn Queue>, dead_letter: Arc<dyn Queue>) {
    queue.send(OutgoingMessage::new("poison").with_attribute(CorrelationId::ATTRIBUTE, "corr-poison")).await.unwrap();
    for attempt in 1..=MAX_RECEIVE_COUNT {
        let received = queue.receive(1, WAIT).await.unwrap();
        assert_eq!(received.len(), 1, "receive {attempt}");
        tokio::time::sleep(VISIBILITY + Duration::from_millis(200)).await;
    }
    assert!(queue.receive(1, Duration::from_millis(500)).await.unwrap().is_empty(), "no longer delivered");
    let dead = dead_letter.receive(1, WAIT).await.unwrap();
    assert_eq!(dead.len(), 1, "the message is in the dead-letter queue");
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].attributes.get(CorrelationId::ATTRIBUTE).map(String::as_str), Some("corr-poison"));
}

pub async fn an_oversized_message_is_refused_before_sending(queue: Arc<dyn Queue>) {
    let result = queue.send(OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES + 1))).await;
    assert!(matches!(result, Err(QueueError::Refused(_))), "{result:?}");
}
