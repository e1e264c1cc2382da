//! The `Queue` seam: SQS when deployed, an in-process queue with the same redrive
//! behaviour locally.

mod local;
pub mod poller;
#[cfg(feature = "aws")]
mod sqs;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use seams_contracts::ErrorName;

pub use local::LocalQueue;
#[cfg(feature = "aws")]
pub use sqs::SqsQueue;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub body: String,
    /// String message attributes (`correlation_id` among them).
    pub attributes: BTreeMap<String, String>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), attributes: BTreeMap::new() }
    }

    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// Proof of this receipt; [`Queue::delete`] takes it.
    pub receipt_handle: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("message refused: {0}")]
    Refused(String),
    #[error("queue unavailable: {0}")]
    Transient(String),
}

impl QueueError {
    pub fn error_name(&self) -> ErrorName {
        match self {
            QueueError::Refused(_) => ErrorName::InvalidInput,
            QueueError::Transient(_) => ErrorName::Transient,
        }
    }
}

/// SQS's limit on a message body and its attributes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A queue between two services (or a dead-letter queue).
#[async_trait]
pub trait Queue: Send + Sync {
    /// The queue URL (SQS) or name (local).
    fn address(&self) -> &str;

    /// Returns the new message's id.
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Up to `max` visible messages, waiting up to `wait` for the first one. Received
    /// messages stay invisible for the queue's visibility timeout; a message received more
    /// than the redrive policy's `maxReceiveCount` times moves to the dead-letter queue instead.
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError>;

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;
}

fn check_size(message: &OutgoingMessage) -> Result<(), QueueError> {
    let size = message.body.len() + message.attributes.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    if size > MAX_MESSAGE_BYTES {
        return Err(QueueError::Refused(format!("message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")));
    }
    Ok(())
}
