//! Lambda's SQS event source mapping, played in process (the local runner, tests): receive a
//! batch, hand it to the function as an `SqsEvent`, delete what it did not report as failed.
//! Failed messages come back after the visibility timeout and, past `maxReceiveCount`, move
//! to the dead-letter queue.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};

use super::{Queue, QueueError, ReceivedMessage};

fn to_lambda_message(received: &ReceivedMessage) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(received.message_id.clone());
    message.receipt_handle = Some(received.receipt_handle.clone());
    message.body = Some(received.body.clone());
    message.event_source = Some("aws:sqs".into());
    for (name, value) in &received.attributes {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some(value.clone());
        attribute.data_type = Some("String".into());
        message.message_attributes.insert(name.clone(), attribute);
    }
    message
}

/// One delivery round: every message visible on `queue` now, in batches of up to ten.
/// Returns the ids the handler reported as failed.
pub async fn deliver<F, Fut>(queue: &dyn Queue, handler: F) -> Result<Vec<String>, QueueError>
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let mut failed = Vec::new();
    loop {
        let received = queue.receive(10, Duration::from_millis(500)).await?;
        if received.is_empty() {
            return Ok(failed);
        }
        let mut event = SqsEvent::default();
        event.records = received.iter().map(to_lambda_message).collect();
        let response = handler(event).await;
        let reported: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        for message in &received {
            if !reported.contains(&message.message_id) {
                queue.delete(&message.receipt_handle).await?;
            }
        }
        failed.extend(reported);
    }
}
