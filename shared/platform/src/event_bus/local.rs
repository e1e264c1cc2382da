use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

use super::{check_size, BusError, EventBus, EventPattern, OutgoingEvent};
use crate::queue::{OutgoingMessage, Queue, QueueError};

/// An in-process bus: each rule whose pattern matches an event sends it to its queue, in the
/// envelope EventBridge gives an SQS target, so consumers parse the same body either way.
#[derive(Default)]
pub struct LocalEventBus {
    rules: RwLock<Vec<(EventPattern, Arc<dyn Queue>)>>,
}

impl LocalEventBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_rule(&self, pattern: EventPattern, target: Arc<dyn Queue>) {
        self.rules.write().unwrap_or_else(|e| e.into_inner()).push((pattern, target));
    }

    fn targets(&self, event: &OutgoingEvent) -> Vec<Arc<dyn Queue>> {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules.iter().filter(|(pattern, _)| pattern.matches(event)).map(|(_, queue)| queue.clone()).collect()
    }
}

/// EventBridge's event envelope, as delivered to targets.
pub fn envelope(event: &OutgoingEvent) -> serde_json::Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "000000000000",
        "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "local",
        "resources": [],
        "detail": event.detail,
    })
}

#[async_trait]
impl EventBus for LocalEventBus {
    async fn publish(&self, events: Vec<OutgoingEvent>) -> Result<(), BusError> {
        for event in &events {
            check_size(event)?;
        }
        for event in &events {
            let body = envelope(event).to_string();
            for target in self.targets(event) {
                target.send(OutgoingMessage::new(body.clone())).await.map_err(|e| match e {
                    QueueError::Transient(detail) => BusError::Transient(detail),
                    QueueError::Refused(detail) => BusError::Refused(detail),
                })?;
            }
        }
        Ok(())
    }
}
