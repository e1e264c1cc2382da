use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{check_size, BusError, EventBus, OutgoingEvent};
use crate::aws::{error_chain, is_transient};

/// A named EventBridge bus.
#[derive(Clone, Debug)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

/// PutEvents takes at most ten entries per call.
const MAX_ENTRIES: usize = 10;

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: Vec<OutgoingEvent>) -> Result<(), BusError> {
        for event in &events {
            check_size(event)?;
        }
        for batch in events.chunks(MAX_ENTRIES) {
            let entries = batch
                .iter()
                .map(|event| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(&event.source)
                        .detail_type(&event.detail_type)
                        .detail(event.detail.to_string())
                        .build()
                })
                .collect();
            let output = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| {
                if is_transient(&e) {
                    BusError::Transient(error_chain(&e))
                } else {
                    BusError::Refused(error_chain(&e))
                }
            })?;
            if output.failed_entry_count > 0 {
                let failed = output.entries.unwrap_or_default().into_iter().find(|entry| entry.error_code.is_some());
                let code = failed.as_ref().and_then(|e| e.error_code.clone()).unwrap_or_default();
                let message = failed.and_then(|e| e.error_message).unwrap_or_default();
                let detail = format!("{code}: {message}");
                return Err(if code.contains("Throttl") || code.contains("InternalFailure") {
                    BusError::Transient(detail)
                } else {
                    BusError::Refused(detail)
                });
            }
        }
        Ok(())
    }
}
