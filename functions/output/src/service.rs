//! The service: one delivery at most once per (request, destination), retried while
//! transient, dead-lettered with its cause when it cannot be made.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use chrono::Utc;
use seams_contracts::events::BusEvent;
use seams_contracts::output::{
    AnswerDelivered, DeliveryFailed, DeliveryReceipt, DeliveryRequest, DeliveryStatus, Destination,
};
use seams_contracts::{CorrelationId, ErrorName, V1};
use seams_platform::event_bus::{EventBus, OutgoingEvent};
use seams_platform::idempotency::{Claimed, Idempotency};
use seams_platform::metrics::count;
use seams_platform::object_store::{ObjectStore, PutOptions};
use seams_platform::queue::{OutgoingMessage, Queue};
use seams_platform::retry::Failure;
use seams_platform::sqs_batch::{correlation_id, process_batch};
use seams_platform::ServiceError;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::channels::{self, Buses, Mailer, Secrets};
use crate::prepare::{prepare, Payload};
use crate::routes::parse_message;
use crate::{signing, Settings};

/// What the channels need to reach destinations.
pub struct Channels {
    pub secrets: Arc<dyn Secrets>,
    pub mailer: Arc<dyn Mailer>,
    pub buses: Arc<dyn Buses>,
}

pub struct Service {
    /// Output's own bucket: the ledger (`ledger/`) and `s3` destination records (`deliveries/`).
    store: Arc<dyn ObjectStore>,
    ledger: Idempotency,
    dead_letters: Arc<dyn Queue>,
    bus: Arc<dyn EventBus>,
    channels: Channels,
    http: reqwest::Client,
    settings: Settings,
}

/// The destination's identity in ledger keys: its kind and a digest of its fields.
fn destination_id(destination: &Destination) -> String {
    let canonical = serde_json::to_vec(destination).unwrap_or_default();
    format!("{}:{}", destination.kind(), &hex::encode(Sha256::digest(canonical))[..16])
}

/// `(idempotency key or request id, destination)`: what is delivered at most once.
pub fn ledger_key(request: &DeliveryRequest) -> String {
    let key = request.idempotency_key.as_deref().unwrap_or(&request.request_id);
    format!("{key}|{}", destination_id(&request.destination))
}

impl Service {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        dead_letters: Arc<dyn Queue>,
        bus: Arc<dyn EventBus>,
        channels: Channels,
        settings: Settings,
    ) -> Result<Self, ServiceError> {
        let http = settings.outbound.client(settings.request_timeout).map_err(|e| ServiceError::transient(e.0))?;
        let ledger = Idempotency::new(store.clone(), "ledger/", settings.claim_ttl);
        Ok(Self { store, ledger, dead_letters, bus, channels, http, settings })
    }

    /// Frees the claims of deliveries that never finished (the local runner, restarting
    /// after a crash), so their retries go through at once.
    pub async fn release_abandoned_claims(&self) -> Result<usize, ServiceError> {
        Ok(self.ledger.release_in_progress().await?)
    }

    /// One attempt at sending. Returns the provider's message id, if it gives one.
    async fn send(&self, payload: &Payload, delivery_id: &str) -> Result<Option<String>, Failure<ServiceError>> {
        match payload {
            Payload::Webhook { url, body, secret } => {
                let mut headers = vec![(signing::ID_HEADER, delivery_id.to_owned())];
                if let Some(secret) = secret {
                    let timestamp = Utc::now().timestamp();
                    let signature = signing::sign(&signing::key(secret), delivery_id, timestamp, body);
                    headers.push((signing::TIMESTAMP_HEADER, timestamp.to_string()));
                    headers.push((signing::SIGNATURE_HEADER, signature));
                }
                channels::post_json(&self.http, url.clone(), body.clone(), &headers).await
            }
            Payload::Slack { url, body } => channels::post_json(&self.http, url.clone(), body.clone(), &[]).await,
            Payload::Email(mail) => self.channels.mailer.send(mail).await.map(Some),
            Payload::S3 { key, body } => {
                let options = PutOptions { content_type: Some("application/json".into()), ..PutOptions::default() };
                // A refused put (denied, or a key the store cannot hold) is refused again.
                self.store.put(key, body.clone().into(), options).await.map_err(|e| {
                    let transient = e.is_transient();
                    Failure::classified(e.into(), transient)
                })?;
                Ok(Some(key.clone()))
            }
            Payload::EventBridge { bus_name, event } => {
                self.channels.buses.bus(bus_name).publish(vec![event.clone()]).await.map_err(|e| {
                    let transient = e.is_transient();
                    Failure::classified(e.into(), transient)
                })?;
                Ok(None)
            }
            Payload::HttpResponse { .. } => Ok(None),
        }
    }

    /// Delivers once. Bad input is refused before anything is sent; a delivery that fails is
    /// in the DLQ (with its cause) and `DeliveryFailed` is on the bus when this returns.
    pub async fn deliver(&self, request: &DeliveryRequest) -> Result<DeliveryReceipt, ServiceError> {
        let (payload, citations) = prepare(request, &self.settings, self.channels.secrets.as_ref()).await?;
        let key = ledger_key(request);
        // A duplicate in flight elsewhere is waited for; a crashed one's claim expires and
        // is taken over.
        let token = match self.ledger.claim_or_wait::<DeliveryReceipt>(&key, self.settings.duplicate_wait).await? {
            Claimed::Acquired(token) => token,
            Claimed::Completed(receipt) => {
                tracing::info!(request_id = %request.request_id, "already delivered; nothing sent");
                count("AlreadyDelivered", 1.0, Some(("destination", request.destination.kind().to_owned())));
                return Ok(DeliveryReceipt { status: DeliveryStatus::AlreadyDelivered, ..receipt });
            }
        };
        let delivery_id = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
        let attempts = AtomicU32::new(0);
        let deadline = tokio::time::Instant::now() + self.settings.deadline;
        let sent = self
            .settings
            .retry
            .run(Some(deadline), |attempt| {
                attempts.store(attempt, Ordering::Relaxed);
                self.send(&payload, &delivery_id)
            })
            .await;
        match sent {
            Ok(provider_message_id) => {
                let receipt = DeliveryReceipt {
                    schema_version: V1,
                    request_id: request.request_id.clone(),
                    destination: request.destination.kind().to_owned(),
                    status: DeliveryStatus::Delivered,
                    attempts: attempts.load(Ordering::Relaxed),
                    delivered_at: Some(Utc::now()),
                    provider_message_id,
                    body: match &payload {
                        Payload::HttpResponse { body } => Some(body.clone()),
                        _ => None,
                    },
                    citations,
                };
                // Sent: a failure to record it must not fail the delivery (a retry would send again).
                if let Err(error) = self.ledger.complete(token, &receipt).await {
                    tracing::error!(%error, "delivered, but the ledger was not completed; a repeat within the claim TTL waits");
                }
                let event = AnswerDelivered {
                    schema_version: V1,
                    correlation_id: request.correlation_id.clone(),
                    receipt: receipt.clone(),
                };
                self.announce(&event).await;
                tracing::info!(request_id = %request.request_id, destination = receipt.destination, attempts = receipt.attempts, "delivered");
                count("Delivered", 1.0, Some(("destination", receipt.destination.clone())));
                count(
                    "DeliveryAttempts",
                    f64::from(receipt.attempts),
                    Some(("destination", receipt.destination.clone())),
                );
                Ok(receipt)
            }
            Err(failed) => {
                // Free the key so a redrive from the DLQ (or the state machine's retry) can send.
                self.ledger.release(token).await;
                let error = failed.error;
                count("DeliveryFailed", 1.0, Some(("destination", request.destination.kind().to_owned())));
                self.dead_letter(
                    &serde_json::to_value(request).unwrap_or_default(),
                    request.correlation_id.as_ref(),
                    &error,
                    failed.attempts,
                )
                .await?;
                let event = DeliveryFailed {
                    schema_version: V1,
                    correlation_id: request.correlation_id.clone(),
                    request_id: request.request_id.clone(),
                    destination: request.destination.kind().to_owned(),
                    attempts: failed.attempts,
                    error: ErrorName::DeliveryFailed,
                    cause: error.detail.clone(),
                };
                self.announce(&event).await;
                Err(ServiceError::new(
                    ErrorName::DeliveryFailed,
                    format!("after {} attempts: {}", failed.attempts, error.detail),
                ))
            }
        }
    }

    async fn announce<E: BusEvent>(&self, event: &E) {
        match OutgoingEvent::from_detail(event) {
            Ok(outgoing) => {
                if let Err(error) = self.bus.publish(vec![outgoing]).await {
                    tracing::warn!(%error, detail_type = E::DETAIL_TYPE, "event not published");
                }
            }
            Err(error) => tracing::warn!(%error, "event not encoded"),
        }
    }

    /// Puts what could not be delivered in output's DLQ with its cause.
    pub(crate) async fn dead_letter(
        &self,
        request: &Value,
        correlation: Option<&CorrelationId>,
        error: &ServiceError,
        attempts: u32,
    ) -> Result<(), ServiceError> {
        let body = json!({"request": request, "error": error.name, "field": error.field, "cause": error.detail,
                          "attempts": attempts, "failed_at": Utc::now()});
        let mut message = OutgoingMessage::new(body.to_string());
        if let Some(correlation) = correlation {
            message = message.with_attribute(CorrelationId::ATTRIBUTE, correlation.as_str());
        }
        self.dead_letters.send(message).await.map_err(ServiceError::from)?;
        tracing::error!(error = error.name.as_str(), cause = %error.detail, "delivery dead-lettered");
        Ok(())
    }

    /// Queue records: each is delivered; whatever cannot be is already in the DLQ, so SQS
    /// is told of a failure only when even the DLQ could not be written.
    pub async fn handle_batch(&self, event: SqsEvent) -> aws_lambda_events::sqs::SqsBatchResponse {
        process_batch(event, 4, |message| async move {
            match parse_message(&message) {
                Ok(request) => match self.deliver(&request).await {
                    Err(error) if error.name == ErrorName::InvalidInput || error.name == ErrorName::NotFound => {
                        self.dead_letter(
                            &serde_json::to_value(&request).unwrap_or_default(),
                            request.correlation_id.as_ref(),
                            &error,
                            0,
                        )
                        .await
                    }
                    Err(error) if error.name == ErrorName::Transient => Err(error),
                    _ => Ok(()),
                },
                Err(error) => {
                    let raw = Value::String(message.body.clone().unwrap_or_default());
                    self.dead_letter(&raw, correlation_id(&message).as_ref(), &error, 0).await
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_keys_tell_destinations_apart() {
        let webhook = |url: &str| Destination::Webhook { url: url.into(), secret_ref: None };
        assert_eq!(
            destination_id(&webhook("https://a.example.com")),
            destination_id(&webhook("https://a.example.com"))
        );
        assert_ne!(
            destination_id(&webhook("https://a.example.com")),
            destination_id(&webhook("https://b.example.com"))
        );
        assert!(destination_id(&Destination::HttpResponse).starts_with("http_response:"));
    }
}
