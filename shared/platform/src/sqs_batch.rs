//! Processing an SQS batch: records run concurrently, each failure is reported alone with
//! `SqsBatchResponse::add_failure`, so SQS retries (and eventually dead-letters) only those.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use seams_contracts::CorrelationId;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{parse_json, ServiceError};
use crate::logging::correlation_span;

/// The `correlation_id` message attribute, when the producer set one.
pub fn correlation_id(message: &SqsMessage) -> Option<CorrelationId> {
    message
        .message_attributes
        .get(CorrelationId::ATTRIBUTE)
        .and_then(|attribute| attribute.string_value.clone())
        .map(CorrelationId::new)
}

/// A record's body as a contract type; an absent or malformed body is `InvalidInput`
/// naming the field.
pub fn parse_body<T: DeserializeOwned>(message: &SqsMessage) -> Result<T, ServiceError> {
    let body = message.body.as_deref().ok_or_else(|| ServiceError::invalid_input("body", "the message has no body"))?;
    parse_json(body.as_bytes())
}

/// Runs `handler` on every record, at most `concurrency` at a time, and reports the ids of
/// those that failed. A failure is logged with its stable error name and cause, inside the
/// record's correlation span.
pub async fn process_batch<F, Fut>(event: SqsEvent, concurrency: usize, handler: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), ServiceError>>,
{
    let handler = &handler;
    let outcomes: Vec<(Option<String>, Result<(), ServiceError>)> = stream::iter(event.records)
        .map(|message| {
            let message_id = message.message_id.clone();
            let correlation = correlation_id(&message).unwrap_or_else(|| CorrelationId::new("none"));
            let span = correlation_span(&correlation);
            async move { (message_id, handler(message).await) }.instrument(span)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    let failed = outcomes.iter().filter(|(_, outcome)| outcome.is_err()).count();
    crate::metrics::count("Messages", outcomes.len() as f64, None);
    crate::metrics::count("MessagesFailed", failed as f64, None);
    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in outcomes {
        if let Err(error) = outcome {
            tracing::error!(
                message_id = message_id.as_deref().unwrap_or("unknown"),
                error = error.name.as_str(),
                cause = %error.detail,
                "message failed; SQS will retry it, then move it to the dead-letter queue"
            );
            // SQS always sets messageId; without one there is nothing to report, and
            // reporting an empty id would fail the whole batch.
            if let Some(id) = message_id {
                response.add_failure(id);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.to_owned());
        message.body = Some(body.to_owned());
        message
    }

    #[tokio::test]
    async fn only_failed_records_are_reported() {
        let mut event = SqsEvent::default();
        event.records = vec![message("a", "ok"), message("b", "poison"), message("c", "ok"), message("d", "poison")];
        let response = process_batch(event, 4, |m| async move {
            match m.body.as_deref() {
                Some("ok") => Ok(()),
                _ => Err(ServiceError::invalid_input("body", "poison")),
            }
        })
        .await;
        let mut failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        failed.sort();
        assert_eq!(failed, ["b", "d"]);
    }

    #[tokio::test]
    async fn records_run_concurrently_up_to_the_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut event = SqsEvent::default();
        event.records = (0..8).map(|i| message(&i.to_string(), "ok")).collect();
        process_batch(event, 3, |_| async {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
