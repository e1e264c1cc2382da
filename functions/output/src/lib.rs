//! The output service: formats inference results and delivers them to their destination,
//! at most once per (request, destination), retrying what is transient and dead-lettering
//! what is not.
//!
//! One delivery: check and format the request (bad input is refused before anything is
//! sent) → claim `(idempotency key or request id, destination)` in the ledger with a
//! conditional put → send, retrying with backoff and jitter → complete the claim with the
//! receipt and announce `AnswerDelivered`. A repeat gets the first receipt; a failure goes to
//! output's DLQ with the request and its cause, and `DeliveryFailed` goes on the bus.

pub mod channels;
pub mod format;
pub mod outbound;
pub mod signing;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use seams_contracts::answer::AnswerReady;
use seams_contracts::events::BusEvent;
use seams_contracts::output::{
    AnswerDelivered, CitedSource, DeliveryFailed, DeliveryReceipt, DeliveryRequest, DeliveryStatus, Destination,
    OutputFormat,
};
use seams_contracts::{CorrelationId, ErrorName, V1};
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::from_value;
use seams_platform::event_bus::{EventBridgeBus, EventBus, OutgoingEvent};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::idempotency::{Claim, Idempotency};
use seams_platform::object_store::{validate_key, ObjectStore, PutOptions, S3ObjectStore};
use seams_platform::queue::{OutgoingMessage, Queue, SqsQueue};
use seams_platform::retry::{Failure, RetryPolicy};
use seams_platform::sqs_batch::{correlation_id, parse_body, process_batch};
use seams_platform::trigger::Trigger;
use seams_platform::ServiceError;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::channels::{Buses, EventBridgeBuses, Mail, Mailer, Secrets, SecretsManager, SesMailer};
use crate::format::Answer;
use crate::outbound::OutboundPolicy;

/// The source of events output puts on a destination bus.
pub const EVENT_SOURCE: &str = "seams.output";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub outbound: OutboundPolicy,
    pub retry: RetryPolicy,
    /// Retries stop before this much time has passed (below the function's timeout).
    pub deadline: Duration,
    /// One HTTP request's timeout.
    pub request_timeout: Duration,
    /// A claim left in progress this long (a crashed delivery) may be taken over.
    pub claim_ttl: Duration,
    /// How long a duplicate waits for a concurrent delivery of the same request.
    pub duplicate_wait: Duration,
    /// Signs webhooks whose destination names no `secret_ref`.
    pub webhook_secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            outbound: OutboundPolicy::default(),
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
            },
            deadline: Duration::from_secs(45),
            request_timeout: Duration::from_secs(10),
            claim_ttl: Duration::from_secs(120),
            duplicate_wait: Duration::from_secs(10),
            webhook_secret: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    /// Holds the delivery ledger and `s3` destination records.
    pub output_bucket: String,
    pub dead_letter_queue_url: String,
    pub event_bus_name: String,
    pub settings: Settings,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let defaults = Settings::default();
        let settings = Settings {
            outbound: OutboundPolicy {
                allowed_hosts: env
                    .optional("SEAMS_OUTBOUND_ALLOWED_HOSTS")
                    .map(|hosts| {
                        hosts.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect()
                    })
                    .unwrap_or_default(),
                allow_private: env.flag("SEAMS_OUTBOUND_ALLOW_PRIVATE", false),
                allow_loopback_http: false,
            },
            retry: RetryPolicy {
                max_attempts: env.parse_or("SEAMS_DELIVERY_ATTEMPTS", defaults.retry.max_attempts),
                ..defaults.retry
            },
            deadline: Duration::from_secs(env.parse_or("SEAMS_DELIVERY_DEADLINE_SECONDS", 45)),
            request_timeout: Duration::from_secs(env.parse_or("SEAMS_DELIVERY_TIMEOUT_SECONDS", 10)),
            webhook_secret: env.optional("SEAMS_WEBHOOK_SIGNING_SECRET"),
            ..defaults
        };
        let config = Self {
            aws: AwsSettings::from_env(&env),
            output_bucket: env.required("SEAMS_OUTPUT_BUCKET"),
            dead_letter_queue_url: env.required("SEAMS_OUTPUT_DLQ_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            settings,
        };
        env.finish().map(|()| config)
    }
}

#[derive(Debug, Clone)]
pub enum Request {
    /// A direct invoke (Step Functions).
    Delivery(Box<DeliveryRequest>),
    /// Delivery requests from output's queue; failures are reported per record.
    Batch(SqsEvent),
    AnswerReady(Box<AnswerReady>),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Delivery(_) => "delivery",
            Request::Batch(_) => "delivery-batch",
            Request::AnswerReady(_) => "answer-ready",
        }
    }
}

/// A delivery request carried by one record of output's queue.
pub fn parse_message(message: &SqsMessage) -> Result<DeliveryRequest, ServiceError> {
    parse_body(message)
}

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

/// A checked, formatted delivery, ready to send.
#[derive(Debug, Clone)]
enum Payload {
    Webhook { url: reqwest::Url, body: Vec<u8>, secret: Option<String> },
    Slack { url: reqwest::Url, body: Vec<u8> },
    Email(Mail),
    S3 { key: String, body: Vec<u8> },
    EventBridge { bus_name: String, event: OutgoingEvent },
    HttpResponse { body: String },
}

fn invalid(field: &str, detail: impl Into<String>) -> ServiceError {
    ServiceError::invalid_input(field, detail)
}

/// A plausible address: `local@domain.tld`, no spaces, at most 254 characters.
pub fn valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    address.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>')
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

    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ServiceError> {
        let channels = Channels {
            secrets: Arc::new(SecretsManager::new(sdk)),
            mailer: Arc::new(SesMailer::new(sdk)),
            buses: Arc::new(EventBridgeBuses { client: seams_platform::aws::eventbridge(sdk) }),
        };
        Self::new(
            Arc::new(S3ObjectStore::new(config.aws.s3(sdk), &config.output_bucket)),
            Arc::new(SqsQueue::new(seams_platform::aws::sqs(sdk), &config.dead_letter_queue_url)),
            Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
            channels,
            config.settings.clone(),
        )
    }

    /// Checks and formats; nothing is sent. Errors name the field. Also returns the cited
    /// sources, for the receipt.
    async fn prepare(&self, request: &DeliveryRequest) -> Result<(Payload, Vec<CitedSource>), ServiceError> {
        if request.request_id.trim().is_empty() {
            return Err(invalid("request_id", "the request id is empty"));
        }
        if let Some(template) = &request.template {
            format::check(template).map_err(|e| invalid("template", e.0))?;
        }
        let answer = Answer::new(&request.request_id, &request.result, &request.metadata.clone().into_iter().collect());
        let template = request.template.as_deref();
        let message = |default: OutputFormat| {
            format::message(template, request.format.unwrap_or(default), &answer).map_err(|e| invalid("template", e.0))
        };
        let record = |message: String| {
            json!({"request_id": request.request_id, "message": message, "result": request.result,
                   "metadata": request.metadata, "correlation_id": request.correlation_id})
        };
        let payload = match &request.destination {
            Destination::Webhook { url, secret_ref } => {
                let url = self.settings.outbound.check_url(url).map_err(|e| invalid("destination.url", e.0))?;
                let secret = match secret_ref {
                    Some(reference) => Some(self.channels.secrets.get(reference).await?),
                    None => self.settings.webhook_secret.clone(),
                };
                let body = serde_json::to_vec(&record(message(OutputFormat::Markdown)?)).unwrap_or_default();
                Payload::Webhook { url, body, secret }
            }
            Destination::Slack { webhook_secret_ref } => {
                let raw = self.channels.secrets.get(webhook_secret_ref).await?;
                let url = self.settings.outbound.check_url(&raw).map_err(|e| {
                    invalid("destination.webhook_secret_ref", format!("the secret's URL is refused: {}", e.0))
                })?;
                let blocks = format::slack(template, &answer).map_err(|e| invalid("template", e.0))?;
                Payload::Slack { url, body: serde_json::to_vec(&blocks).unwrap_or_default() }
            }
            Destination::Email { from, to, cc, subject_template } => {
                if !valid_email(from) {
                    return Err(invalid("destination.from", format!("{from:?} is not an email address")));
                }
                if to.is_empty() || to.len() + cc.len() > 50 {
                    return Err(invalid("destination.to", "1 to 50 recipients"));
                }
                for (field, list) in [("destination.to", to), ("destination.cc", cc)] {
                    if let Some(bad) = list.iter().find(|a| !valid_email(a)) {
                        return Err(invalid(field, format!("{bad:?} is not an email address")));
                    }
                }
                let subject_template = subject_template.as_deref().unwrap_or("Answer to {{ request_id }}");
                let subject = format::render(subject_template, &answer)
                    .map_err(|e| invalid("destination.subject_template", e.0))?;
                let text = message(OutputFormat::Text)?;
                let html = match template {
                    Some(_) => {
                        format!("<pre>{}</pre>", text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
                    }
                    None => format::message(None, OutputFormat::Html, &answer).map_err(|e| invalid("template", e.0))?,
                };
                let subject = subject.lines().next().unwrap_or_default().trim().to_owned();
                Payload::Email(Mail { from: from.clone(), to: to.clone(), cc: cc.clone(), subject, text, html })
            }
            Destination::S3 { key_template } => {
                let key =
                    format::render(key_template, &answer).map_err(|e| invalid("destination.key_template", e.0))?;
                let key = format!("deliveries/{}", key.trim().trim_start_matches('/'));
                validate_key(&key).map_err(|e| invalid("destination.key_template", e.to_string()))?;
                let body = serde_json::to_vec_pretty(&record(message(OutputFormat::Markdown)?)).unwrap_or_default();
                Payload::S3 { key, body }
            }
            Destination::Eventbridge { bus_name, detail_type } => {
                if bus_name.trim().is_empty() || detail_type.trim().is_empty() {
                    return Err(invalid("destination.bus_name", "a bus name and a detail type are required"));
                }
                let detail = record(message(OutputFormat::Markdown)?);
                let event = OutgoingEvent { source: EVENT_SOURCE.into(), detail_type: detail_type.clone(), detail };
                Payload::EventBridge { bus_name: bus_name.clone(), event }
            }
            Destination::HttpResponse => Payload::HttpResponse { body: message(OutputFormat::Markdown)? },
        };
        Ok((payload, answer.citations))
    }

    /// One attempt at sending. Returns the provider's message id, if it gives one.
    async fn send(&self, payload: &Payload, delivery_id: &str) -> Result<Option<String>, Failure<ServiceError>> {
        match payload {
            Payload::Webhook { url, body, secret } => {
                let mut headers = vec![(signing::DELIVERY_HEADER, delivery_id.to_owned())];
                if let Some(secret) = secret {
                    let timestamp = Utc::now().timestamp();
                    headers.push((signing::TIMESTAMP_HEADER, timestamp.to_string()));
                    headers.push((signing::SIGNATURE_HEADER, signing::sign(secret.as_bytes(), timestamp, body)));
                }
                channels::post_json(&self.http, url.clone(), body.clone(), &headers).await
            }
            Payload::Slack { url, body } => channels::post_json(&self.http, url.clone(), body.clone(), &[]).await,
            Payload::Email(mail) => self.channels.mailer.send(mail).await.map(Some),
            Payload::S3 { key, body } => {
                let options = PutOptions { content_type: Some("application/json".into()), ..PutOptions::default() };
                self.store.put(key, body.clone().into(), options).await.map_err(|e| Failure::transient(e.into()))?;
                Ok(Some(key.clone()))
            }
            Payload::EventBridge { bus_name, event } => {
                self.channels
                    .buses
                    .bus(bus_name)
                    .publish(vec![event.clone()])
                    .await
                    .map_err(|e| Failure::transient(e.into()))?;
                Ok(None)
            }
            Payload::HttpResponse { .. } => Ok(None),
        }
    }

    /// Delivers once. Bad input is refused before anything is sent; a delivery that fails is
    /// in the DLQ (with its cause) and `DeliveryFailed` is on the bus when this returns.
    pub async fn deliver(&self, request: &DeliveryRequest) -> Result<DeliveryReceipt, ServiceError> {
        let (payload, citations) = self.prepare(request).await?;
        let key = ledger_key(request);
        // A duplicate in flight elsewhere is waited for; a crashed one's claim expires and
        // `claim` takes it over.
        let started = tokio::time::Instant::now();
        let token = loop {
            match self
                .ledger
                .claim::<DeliveryReceipt>(&key)
                .await
                .map_err(|e| ServiceError::transient(e.to_string()))?
            {
                Claim::Acquired(token) => break token,
                Claim::Completed(receipt) => {
                    tracing::info!(request_id = %request.request_id, "already delivered; nothing sent");
                    return Ok(DeliveryReceipt { status: DeliveryStatus::AlreadyDelivered, ..receipt });
                }
                Claim::InProgress { .. } if started.elapsed() < self.settings.duplicate_wait => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Claim::InProgress { .. } => {
                    return Err(ServiceError::transient("the same delivery is in progress elsewhere; retry later"))
                }
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
                Ok(receipt)
            }
            Err(failed) => {
                // Free the key so a redrive from the DLQ (or the state machine's retry) can send.
                if let Err(error) = self.ledger.release(token).await {
                    tracing::warn!(%error, "could not release the delivery claim; it expires on its own");
                }
                let error = failed.error;
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
    async fn dead_letter(
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

fn answer_ready(event: EventBridgeEvent<Value>) -> Result<Request, ServiceError> {
    if event.detail_type != AnswerReady::DETAIL_TYPE {
        let detail = format!("output does not handle {} events", event.detail_type);
        return Err(ServiceError::invalid_input("detail-type", detail));
    }
    Ok(Request::AnswerReady(Box::new(from_value(event.detail)?)))
}

fn receipt_reply(receipt: &DeliveryReceipt) -> Result<Reply, ServiceError> {
    Ok(Reply::ok(serde_json::to_value(receipt).map_err(|e| ServiceError::transient(e.to_string()))?))
}

#[async_trait]
impl Function for Service {
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        let route = seams_platform::http::route_key(request);
        Err(ServiceError::not_found(format!("output has no HTTP route ({route})")))
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::Direct(payload) => Ok(Request::Delivery(Box::new(from_value(payload)?))),
            Trigger::Sqs(event) => Ok(Request::Batch(event)),
            Trigger::EventBridge(event) => answer_ready(*event),
            Trigger::S3(_) | Trigger::Http(_) => {
                Err(ServiceError::invalid_input("event", "output is triggered by a direct invoke, SQS or EventBridge"))
            }
        }
    }

    async fn serve(&self, request: Request, _correlation: CorrelationId) -> Result<Reply, ServiceError> {
        match request {
            Request::Delivery(request) => receipt_reply(&self.deliver(&request).await?),
            Request::Batch(event) => {
                Ok(Reply::ok(serde_json::to_value(self.handle_batch(event).await).unwrap_or_default()))
            }
            Request::AnswerReady(event) => {
                let request = DeliveryRequest {
                    schema_version: V1,
                    request_id: event.request_id.clone(),
                    correlation_id: event.correlation_id.clone(),
                    idempotency_key: None,
                    result: event.result.clone(),
                    destination: event.destination.clone(),
                    format: None,
                    template: None,
                    metadata: Default::default(),
                };
                match self.deliver(&request).await {
                    // No caller sees an event's error: refused input goes to the DLQ too.
                    Err(error) if error.name == ErrorName::InvalidInput => {
                        let value = serde_json::to_value(&*event).unwrap_or_default();
                        self.dead_letter(&value, event.correlation_id.as_ref(), &error, 0).await?;
                        Err(error)
                    }
                    outcome => receipt_reply(&outcome?),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked() {
        for good in ["a@example.com", "first.last+tag@sub.example.co.uk"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@example.com",
            "a@.com",
            "a b@example.com",
            "a@example.com,b@example.com",
            "<a@example.com>",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

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
