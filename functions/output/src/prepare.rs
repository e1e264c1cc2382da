//! From a delivery request to what will be sent: each destination's checks and formatting.
//! Bad input is refused here, naming the field, before anything is sent.

use seams_contracts::output::{CitedSource, DeliveryRequest, Destination, OutputFormat};
use seams_platform::event_bus::OutgoingEvent;
use seams_platform::object_store::validate_key;
use seams_platform::ServiceError;
use serde_json::{json, Value};

use crate::channels::{Mail, Secrets};
use crate::format::{self, Answer};
use crate::Settings;

/// The source of events output puts on a destination bus.
pub const EVENT_SOURCE: &str = seams_contracts::events::SOURCE_OUTPUT;

/// A checked, formatted delivery, ready to send.
#[derive(Debug, Clone)]
pub enum Payload {
    Webhook { url: reqwest::Url, body: Vec<u8>, secret: Option<String> },
    Slack { url: reqwest::Url, body: Vec<u8> },
    Email(Mail),
    S3 { key: String, body: Vec<u8> },
    EventBridge { bus_name: String, event: OutgoingEvent },
    HttpResponse { body: String },
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

/// One request's answer with its template and format, as every destination renders it.
struct Rendering<'a> {
    request: &'a DeliveryRequest,
    answer: Answer,
}

impl Rendering<'_> {
    fn template(&self) -> Option<&str> {
        self.request.template.as_deref()
    }

    /// The message in the request's format, else in the destination's `default`.
    fn message(&self, default: OutputFormat) -> Result<String, ServiceError> {
        format::message(self.template(), self.request.format.unwrap_or(default), &self.answer)
            .map_err(|e| ServiceError::invalid_input("template", e.0))
    }

    /// The JSON record webhooks, S3 and EventBridge destinations carry.
    fn record(&self, message: String) -> Value {
        let request = self.request;
        json!({"request_id": request.request_id, "message": message, "result": request.result,
               "metadata": request.metadata, "correlation_id": request.correlation_id})
    }
}

fn encode(value: &Value) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec(value).map_err(|e| ServiceError::transient(format!("could not encode the delivery: {e}")))
}

/// Checks and formats; nothing is sent. Errors name the field. Also returns the cited
/// sources, for the receipt.
pub async fn prepare(
    request: &DeliveryRequest,
    settings: &Settings,
    secrets: &dyn Secrets,
) -> Result<(Payload, Vec<CitedSource>), ServiceError> {
    if request.request_id.trim().is_empty() {
        return Err(ServiceError::invalid_input("request_id", "the request id is empty"));
    }
    if let Some(template) = &request.template {
        format::check(template).map_err(|e| ServiceError::invalid_input("template", e.0))?;
    }
    let metadata = request.metadata.clone().into_iter().collect();
    let rendering = Rendering { request, answer: Answer::new(&request.request_id, &request.result, &metadata) };
    let payload = match &request.destination {
        Destination::Webhook { url, secret_ref } => {
            webhook(&rendering, url, secret_ref.as_deref(), settings, secrets).await?
        }
        Destination::Slack { webhook_secret_ref } => slack(&rendering, webhook_secret_ref, settings, secrets).await?,
        Destination::Email { from, to, cc, subject_template } => {
            email(&rendering, from, to, cc, subject_template.as_deref())?
        }
        Destination::S3 { key_template } => s3(&rendering, key_template)?,
        Destination::Eventbridge { bus_name, detail_type } => eventbridge(&rendering, bus_name, detail_type)?,
        Destination::HttpResponse => Payload::HttpResponse { body: rendering.message(OutputFormat::Markdown)? },
    };
    Ok((payload, rendering.answer.citations))
}

async fn webhook(
    rendering: &Rendering<'_>,
    url: &str,
    secret_ref: Option<&str>,
    settings: &Settings,
    secrets: &dyn Secrets,
) -> Result<Payload, ServiceError> {
    let url = settings.outbound.check_url(url).map_err(|e| ServiceError::invalid_input("destination.url", e.0))?;
    let secret = match secret_ref.or(settings.webhook_secret_ref.as_deref()) {
        Some(reference) => Some(secrets.get(reference).await?),
        None => settings.webhook_secret.clone(),
    };
    let body = encode(&rendering.record(rendering.message(OutputFormat::Markdown)?))?;
    Ok(Payload::Webhook { url, body, secret })
}

async fn slack(
    rendering: &Rendering<'_>,
    webhook_secret_ref: &str,
    settings: &Settings,
    secrets: &dyn Secrets,
) -> Result<Payload, ServiceError> {
    let raw = secrets.get(webhook_secret_ref).await?;
    let url = settings.outbound.check_url(&raw).map_err(|e| {
        ServiceError::invalid_input("destination.webhook_secret_ref", format!("the secret's URL is refused: {}", e.0))
    })?;
    let blocks = crate::slack::message(rendering.template(), &rendering.answer)
        .map_err(|e| ServiceError::invalid_input("template", e.0))?;
    Ok(Payload::Slack { url, body: encode(&blocks)? })
}

fn email(
    rendering: &Rendering<'_>,
    from: &str,
    to: &[String],
    cc: &[String],
    subject_template: Option<&str>,
) -> Result<Payload, ServiceError> {
    if !valid_email(from) {
        return Err(ServiceError::invalid_input("destination.from", format!("{from:?} is not an email address")));
    }
    if to.is_empty() || to.len() + cc.len() > 50 {
        return Err(ServiceError::invalid_input("destination.to", "1 to 50 recipients"));
    }
    for (field, list) in [("destination.to", to), ("destination.cc", cc)] {
        if let Some(bad) = list.iter().find(|a| !valid_email(a)) {
            return Err(ServiceError::invalid_input(field, format!("{bad:?} is not an email address")));
        }
    }
    let subject = format::render(subject_template.unwrap_or("Answer to {{ request_id }}"), &rendering.answer)
        .map_err(|e| ServiceError::invalid_input("destination.subject_template", e.0))?;
    let subject = subject.lines().next().unwrap_or_default().trim().to_owned();
    let text = rendering.message(OutputFormat::Text)?;
    let html = match rendering.template() {
        // A caller's template is text: shown as it is, escaped.
        Some(_) => format!("<pre>{}</pre>", text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")),
        None => format::message(None, OutputFormat::Html, &rendering.answer)
            .map_err(|e| ServiceError::invalid_input("template", e.0))?,
    };
    Ok(Payload::Email(Mail { from: from.to_owned(), to: to.to_vec(), cc: cc.to_vec(), subject, text, html }))
}

fn s3(rendering: &Rendering<'_>, key_template: &str) -> Result<Payload, ServiceError> {
    let key = format::render(key_template, &rendering.answer)
        .map_err(|e| ServiceError::invalid_input("destination.key_template", e.0))?;
    let key = format!("deliveries/{}", key.trim().trim_start_matches('/'));
    validate_key(&key).map_err(|e| ServiceError::invalid_input("destination.key_template", e.to_string()))?;
    let record = rendering.record(rendering.message(OutputFormat::Markdown)?);
    let body = serde_json::to_vec_pretty(&record)
        .map_err(|e| ServiceError::transient(format!("could not encode the delivery: {e}")))?;
    Ok(Payload::S3 { key, body })
}

fn eventbridge(rendering: &Rendering<'_>, bus_name: &str, detail_type: &str) -> Result<Payload, ServiceError> {
    if bus_name.trim().is_empty() || detail_type.trim().is_empty() {
        return Err(ServiceError::invalid_input("destination.bus_name", "a bus name and a detail type are required"));
    }
    let detail = rendering.record(rendering.message(OutputFormat::Markdown)?);
    let event = OutgoingEvent { source: EVENT_SOURCE.into(), detail_type: detail_type.to_owned(), detail };
    Ok(Payload::EventBridge { bus_name: bus_name.to_owned(), event })
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
}
