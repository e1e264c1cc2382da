use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{check_size, OutgoingMessage, Queue, QueueError, ReceivedMessage};

/// An in-process queue with SQS's delivery semantics: a received message is hidden for the
/// visibility timeout and comes back unless deleted; after `max_receive_count` receives it
/// moves to the dead-letter queue.
pub struct LocalQueue {
    name: String,
    visibility_timeout: Duration,
    redrive: Option<(Arc<LocalQueue>, u32)>,
    messages: Mutex<Vec<Stored>>,
    arrived: Notify,
}

struct Stored {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    receive_count: u32,
    visible_at: Instant,
    receipt_handle: Option<String>,
}

/// How often a waiting receive looks again for messages whose visibility timeout ran out.
const POLL: Duration = Duration::from_millis(20);

impl LocalQueue {
    pub fn new(name: impl Into<String>, visibility_timeout: Duration) -> Self {
        Self {
            name: name.into(),
            visibility_timeout,
            redrive: None,
            messages: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        }
    }

    /// Moves messages received more than `max_receive_count` times to `dead_letter`.
    pub fn with_dead_letter(mut self, dead_letter: Arc<LocalQueue>, max_receive_count: u32) -> Self {
        self.redrive = Some((dead_letter, max_receive_count.max(1)));
        self
    }

    /// Messages currently in the queue, visible or not.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stored>> {
        // A panic while holding the lock cannot leave the Vec half-updated in a way that
        // matters here, so a poisoned lock is still usable.
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, stored: Stored) {
        self.lock().push(stored);
        self.arrived.notify_waiters();
    }

    fn take_visible(&self, max: usize) -> Vec<ReceivedMessage> {
        let now = Instant::now();
        let mut dead = Vec::new();
        let mut received = Vec::new();
        {
            let mut messages = self.lock();
            let mut index = 0;
            while index < messages.len() && received.len() < max {
                if messages[index].visible_at > now {
                    index += 1;
                    continue;
                }
                if let Some((_, max_receive_count)) = &self.redrive {
                    if messages[index].receive_count >= *max_receive_count {
                        dead.push(messages.remove(index));
                        continue;
                    }
                }
                let message = &mut messages[index];
                let receipt_handle = uuid::Uuid::new_v4().to_string();
                message.receive_count += 1;
                message.visible_at = now + self.visibility_timeout;
                message.receipt_handle = Some(receipt_handle.clone());
                received.push(ReceivedMessage {
                    message_id: message.id.clone(),
                    body: message.body.clone(),
                    attributes: message.attributes.clone(),
                    receipt_handle,
                    receive_count: message.receive_count,
                });
                index += 1;
            }
        }
        if let Some((dead_letter, _)) = &self.redrive {
            for mut message in dead {
                message.receive_count = 0;
                message.visible_at = now;
                message.receipt_handle = None;
                dead_letter.push(message);
            }
        }
        received
    }
}

#[async_trait]
impl Queue for LocalQueue {
    fn address(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        check_size(&message)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.push(Stored {
            id: id.clone(),
            body: message.body,
            attributes: message.attributes,
            receive_count: 0,
            visible_at: Instant::now(),
            receipt_handle: None,
        });
        Ok(id)
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max = max.clamp(1, 10) as usize;
        let deadline = Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            let received = self.take_visible(max);
            let now = Instant::now();
            if !received.is_empty() || now >= deadline {
                return Ok(received);
            }
            let _ = tokio::time::timeout(POLL.min(deadline - now), arrived).await;
        }
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        // Like SQS, deleting with a stale or unknown handle is not an error.
        self.lock().retain(|m| m.receipt_handle.as_deref() != Some(receipt_handle));
        Ok(())
    }
}
