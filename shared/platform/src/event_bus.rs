//! The `EventBus` seam: EventBridge when deployed, an in-process bus with rules that deliver
//! to queues locally, in EventBridge's SQS-target envelope.

#[cfg(feature = "aws")]
mod eventbridge;
mod local;

use async_trait::async_trait;
use seams_contracts::events::BusEvent;
use seams_contracts::ErrorName;
use serde::{Deserialize, Serialize};

#[cfg(feature = "aws")]
pub use eventbridge::EventBridgeBus;
pub use local::LocalEventBus;

/// An event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub source: String,
    pub detail_type: String,
    pub detail: serde_json::Value,
}

impl OutgoingEvent {
    /// An event from a detail contract, under the contract's own source and detail type.
    pub fn from_detail<E: BusEvent>(detail: &E) -> Result<Self, BusError> {
        let detail = serde_json::to_value(detail).map_err(|e| BusError::Refused(e.to_string()))?;
        Ok(Self { source: E::SOURCE.to_owned(), detail_type: E::DETAIL_TYPE.to_owned(), detail })
    }
}

/// The part of an EventBridge event pattern seams rules use: match on source and detail type.
/// An empty list matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventPattern {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, rename = "detail-type", skip_serializing_if = "Vec::is_empty")]
    pub detail_type: Vec<String>,
}

impl EventPattern {
    pub fn detail_types(types: &[&str]) -> Self {
        Self { source: Vec::new(), detail_type: types.iter().map(|t| (*t).to_owned()).collect() }
    }

    pub fn matches(&self, event: &OutgoingEvent) -> bool {
        let any_of = |allowed: &[String], value: &str| allowed.is_empty() || allowed.iter().any(|a| a == value);
        any_of(&self.source, &event.source) && any_of(&self.detail_type, &event.detail_type)
    }

    /// The pattern as EventBridge's `PutRule` takes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("event refused: {0}")]
    Refused(String),
    #[error("event bus unavailable: {0}")]
    Transient(String),
}

impl BusError {
    /// Whether the same events may be accepted if sent again.
    pub fn is_transient(&self) -> bool {
        matches!(self, BusError::Transient(_))
    }

    pub fn error_name(&self) -> ErrorName {
        match self {
            BusError::Refused(_) => ErrorName::InvalidInput,
            BusError::Transient(_) => ErrorName::Transient,
        }
    }
}

/// EventBridge's limit on one entry.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes every event or reports the first that could not be.
    async fn publish(&self, events: Vec<OutgoingEvent>) -> Result<(), BusError>;
}

fn check_size(event: &OutgoingEvent) -> Result<(), BusError> {
    let size = event.detail.to_string().len() + event.source.len() + event.detail_type.len();
    if size > MAX_EVENT_BYTES {
        return Err(BusError::Refused(format!(
            "{} event of {size} bytes exceeds {MAX_EVENT_BYTES}",
            event.detail_type
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, detail_type: &str) -> OutgoingEvent {
        OutgoingEvent { source: source.into(), detail_type: detail_type.into(), detail: serde_json::json!({}) }
    }

    #[test]
    fn patterns_match_on_source_and_detail_type() {
        let pattern = EventPattern::detail_types(&["DocumentProcessed", "DocumentDeleted"]);
        assert!(pattern.matches(&event("seams.process", "DocumentProcessed")));
        assert!(pattern.matches(&event("seams.ingest", "DocumentDeleted")));
        assert!(!pattern.matches(&event("seams.ingest", "DocumentIngested")));
        let by_source = EventPattern { source: vec!["crm".into()], detail_type: vec![] };
        assert!(by_source.matches(&event("crm", "Anything")));
        assert!(!by_source.matches(&event("erp", "Anything")));
    }

    #[test]
    fn patterns_serialise_as_eventbridge_reads_them() {
        let pattern = EventPattern::detail_types(&["DocumentProcessed"]);
        assert_eq!(pattern.to_json(), r#"{"detail-type":["DocumentProcessed"]}"#);
    }
}
