//! How each destination is reached: the seams output sends through (secrets, mail, buses,
//! HTTP), each behind a small trait with an AWS and a local implementation.

use std::sync::Arc;

use async_trait::async_trait;
use seams_platform::event_bus::EventBus;
use seams_platform::object_store::{ObjectStore, PutOptions};
use seams_platform::retry::{Failure, Refusal};
use seams_platform::secrets::SecretCache;
use seams_platform::xray;
use seams_platform::ServiceError;

use crate::outbound::InternalAddress;

/// Reads a secret by reference (a Secrets Manager name or ARN when deployed).
#[async_trait]
pub trait Secrets: Send + Sync {
    async fn get(&self, reference: &str) -> Result<String, ServiceError>;
}

/// Secrets Manager, each value kept for `SEAMS_SECRET_TTL_SECONDS`.
#[async_trait]
impl Secrets for SecretCache {
    async fn get(&self, reference: &str) -> Result<String, ServiceError> {
        SecretCache::get(self, reference).await
    }
}

/// The local runner's secrets: a reference names an environment variable.
pub struct EnvSecrets;

#[async_trait]
impl Secrets for EnvSecrets {
    async fn get(&self, reference: &str) -> Result<String, ServiceError> {
        std::env::var(reference).map_err(|_| {
            ServiceError::invalid_input("destination", format!("secret {reference}: no such environment variable"))
        })
    }
}

/// An email, formatted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends and returns the provider's message id.
    async fn send(&self, mail: &Mail) -> Result<String, Failure<ServiceError>>;
}

/// The local runner's mail: one JSON file per message in output's directory.
pub struct FileMailer {
    pub store: Arc<dyn ObjectStore>,
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &Mail) -> Result<String, Failure<ServiceError>> {
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_vec_pretty(mail).unwrap_or_default();
        let options = PutOptions { content_type: Some("application/json".into()), ..PutOptions::default() };
        self.store
            .put(&format!("mail/{id}.json"), body.into(), options)
            .await
            .map_err(|e| Failure::transient(e.into()))?;
        Ok(id)
    }
}

/// Event buses by name: the destination names the bus.
pub trait Buses: Send + Sync {
    fn bus(&self, name: &str) -> Arc<dyn EventBus>;
}

/// The local runner has one bus, whatever its name.
pub struct OneBus(pub Arc<dyn EventBus>);

impl Buses for OneBus {
    fn bus(&self, _name: &str) -> Arc<dyn EventBus> {
        self.0.clone()
    }
}

fn delivery_failed(detail: String) -> ServiceError {
    ServiceError::new(seams_contracts::ErrorName::DeliveryFailed, detail)
}

/// Whether a send error came from the outbound policy (never worth retrying).
fn refused_by_policy(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<InternalAddress>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// POSTs JSON. 2xx is delivered; network trouble, 408, 429 (with `Retry-After`) and 5xx are
/// worth retrying; any other answer is permanent.
pub async fn post_json(
    client: &reqwest::Client,
    url: reqwest::Url,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<Option<String>, Failure<ServiceError>> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut request = client.post(url).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = match xray::send(request).await {
        Ok(response) => response,
        Err(error) if refused_by_policy(&error) => {
            return Err(Failure::Permanent(delivery_failed(format!(
                "{host}: {}",
                seams_platform::aws::error_chain(&error)
            ))))
        }
        Err(error) => {
            return Err(Failure::transient(delivery_failed(format!(
                "{host}: {}",
                seams_platform::aws::error_chain(&error)
            ))))
        }
    };
    let request_id = response
        .headers()
        .get("x-request-id")
        .or_else(|| response.headers().get("x-slack-req-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response.status().is_success() {
        return Ok(request_id);
    }
    let refusal = Refusal::read(response, 1024).await;
    let error = delivery_failed(format!("{host} answered {}: {}", refusal.status, refusal.body_start(300)));
    match refusal.status {
        408 | 429 | 500..=599 => Err(Failure::Transient { error, retry_after: refusal.retry_after }),
        _ => Err(Failure::Permanent(error)),
    }
}
