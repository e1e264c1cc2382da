use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{check_size, OutgoingMessage, Queue, QueueError, ReceivedMessage};

/// An in-process queue with SQS's delivery semantics: a received message is hidden for the
/// visibility timeout and comes back unless deleted; after `max_receive_count` receives it
/// moves to the dead-letter queue. A durable one also keeps its messages in a journal file,
/// so a process killed at any point finds them again when it restarts.
pub struct LocalQueue {
    name: String,
    visibility_timeout: Duration,
    redrive: Option<(Arc<LocalQueue>, u32)>,
    state: Mutex<State>,
    arrived: Notify,
}

struct State {
    messages: Vec<Stored>,
    journal: Option<Journal>,
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
            state: Mutex::new(State { messages: Vec::new(), journal: None }),
            arrived: Notify::new(),
        }
    }

    /// A queue whose messages survive the process: those in `journal` (a file this queue
    /// alone writes) are in the queue again, visible at once, their receive counts reset.
    pub fn durable(name: impl Into<String>, visibility_timeout: Duration, journal: &Path) -> Result<Self, QueueError> {
        let (journal, kept) = Journal::open(journal)?;
        let now = Instant::now();
        let messages = kept
            .into_iter()
            .map(|(id, body, attributes)| Stored {
                id,
                body,
                attributes,
                receive_count: 0,
                visible_at: now,
                receipt_handle: None,
            })
            .collect();
        Ok(Self {
            state: Mutex::new(State { messages, journal: Some(journal) }),
            ..Self::new(name, visibility_timeout)
        })
    }

    /// Moves messages received more than `max_receive_count` times to `dead_letter`.
    pub fn with_dead_letter(mut self, dead_letter: Arc<LocalQueue>, max_receive_count: u32) -> Self {
        self.redrive = Some((dead_letter, max_receive_count.max(1)));
        self
    }

    /// Messages currently in the queue, visible or not.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the Vec half-updated in a way that
        // matters here, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Journals the message (when durable), then makes it receivable.
    fn push(&self, stored: Stored) -> Result<(), QueueError> {
        {
            let mut state = self.lock();
            if let Some(journal) = &mut state.journal {
                journal.append(&Record::Send {
                    id: stored.id.clone(),
                    body: stored.body.clone(),
                    attributes: stored.attributes.clone(),
                })?;
            }
            state.messages.push(stored);
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    /// Removes the message a receipt handle names; journals the deletion when durable.
    fn remove(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let mut state = self.lock();
        let Some(index) = state.messages.iter().position(|m| m.receipt_handle.as_deref() == Some(receipt_handle))
        else {
            return Ok(());
        };
        let removed = state.messages.remove(index);
        let State { messages, journal } = &mut *state;
        match journal {
            Some(journal) => journal.forget(&removed.id, messages),
            None => Ok(()),
        }
    }

    fn take_visible(&self, max: usize) -> Vec<ReceivedMessage> {
        let now = Instant::now();
        let mut dead = Vec::new();
        let mut received = Vec::new();
        {
            let mut state = self.lock();
            let messages = &mut state.messages;
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
                let id = message.id.clone();
                // Into the dead-letter queue's journal first: a crash in between leaves the
                // message in both, never in neither.
                let moved = dead_letter.push(message).and_then(|()| {
                    let mut state = self.lock();
                    let State { messages, journal } = &mut *state;
                    journal.as_mut().map_or(Ok(()), |journal| journal.forget(&id, messages))
                });
                if let Err(error) = moved {
                    tracing::warn!(queue = self.name, %error, "could not journal a move to the dead-letter queue");
                }
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
        })?;
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
        self.remove(receipt_handle)
    }
}

/// One line of a queue's journal.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Send { id: String, body: String, attributes: BTreeMap<String, String> },
    Delete { id: String },
}

/// An append-only file of sends and deletes. Each record is one line written with one
/// `write`, so a killed process leaves at most a torn last line, which opening cuts off.
/// Opening rewrites the file with only the messages still queued, and so does a delete once
/// the file holds many more records than messages.
struct Journal {
    path: PathBuf,
    file: std::fs::File,
    records: usize,
}

/// A rewrite is due when the journal has this many records more than twice its messages.
const COMPACT_SLACK: usize = 1024;

type Kept = (String, String, BTreeMap<String, String>);

fn journal_error(path: &Path, error: impl std::fmt::Display) -> QueueError {
    QueueError::Transient(format!("queue journal {}: {error}", path.display()))
}

impl Journal {
    /// Replays the journal at `path` (if any) and returns it, compacted, with the messages
    /// still queued, in the order they were sent.
    fn open(path: &Path) -> Result<(Self, Vec<Kept>), QueueError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(journal_error(path, e)),
        };
        // In send order; a deleted message leaves a hole.
        let mut sent: Vec<Option<Kept>> = Vec::new();
        let mut position: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        // Only whole lines: a torn last one was never acknowledged.
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(&text[..0], |end| &text[..=end]);
        for line in whole.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
            match serde_json::from_slice::<Record>(line) {
                Ok(Record::Send { id, body, attributes }) => {
                    position.insert(id.clone(), sent.len());
                    sent.push(Some((id, body, attributes)));
                }
                Ok(Record::Delete { id }) => {
                    if let Some(slot) = position.remove(&id).and_then(|at| sent.get_mut(at)) {
                        *slot = None;
                    }
                }
                Err(error) => tracing::warn!(journal = %path.display(), %error, "skipped an unreadable journal line"),
            }
        }
        let kept: Vec<Kept> = sent.into_iter().flatten().collect();
        let sends = kept.iter().map(|(id, body, attributes)| Record::Send {
            id: id.clone(),
            body: body.clone(),
            attributes: attributes.clone(),
        });
        let journal = Self::rewrite(path, sends)?;
        Ok((journal, kept))
    }

    /// Writes `records` to a new file that then replaces the journal.
    fn rewrite(path: &Path, records: impl Iterator<Item = Record>) -> Result<Self, QueueError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| journal_error(path, e))?;
        }
        let fresh = path.with_extension("compacting");
        let mut text = Vec::new();
        let mut count = 0;
        for record in records {
            text.extend(serde_json::to_vec(&record).map_err(|e| journal_error(path, e))?);
            text.push(b'\n');
            count += 1;
        }
        std::fs::write(&fresh, &text).map_err(|e| journal_error(path, e))?;
        std::fs::rename(&fresh, path).map_err(|e| journal_error(path, e))?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| journal_error(path, e))?;
        Ok(Self { path: path.to_owned(), file, records: count })
    }

    fn append(&mut self, record: &Record) -> Result<(), QueueError> {
        let mut line = serde_json::to_vec(record).map_err(|e| journal_error(&self.path, e))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| journal_error(&self.path, e))?;
        self.records += 1;
        Ok(())
    }

    /// Journals a message's removal; `queued` are the messages left.
    fn forget(&mut self, id: &str, queued: &[Stored]) -> Result<(), QueueError> {
        self.append(&Record::Delete { id: id.to_owned() })?;
        if self.records > 2 * queued.len() + COMPACT_SLACK {
            let sends = queued.iter().map(|m| Record::Send {
                id: m.id.clone(),
                body: m.body.clone(),
                attributes: m.attributes.clone(),
            });
            *self = Self::rewrite(&self.path, sends)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISIBLE: Duration = Duration::from_secs(30);

    /// Receives until nothing is visible (the queue must hide what it hands out).
    async fn bodies(queue: &LocalQueue) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let batch = queue.receive(10, Duration::ZERO).await.unwrap();
            if batch.is_empty() {
                return bodies;
            }
            bodies.extend(batch.into_iter().map(|m| m.body));
        }
    }

    async fn send(queue: &LocalQueue, body: &str) {
        queue.send(OutgoingMessage::new(body.to_owned()).with_attribute("k", body)).await.unwrap();
    }

    #[tokio::test]
    async fn a_reopened_queue_holds_what_was_sent_and_not_deleted_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queues/process.jsonl");
        {
            let queue = LocalQueue::durable("process", VISIBLE, &path).unwrap();
            for body in ["a", "b", "c", "d"] {
                send(&queue, body).await;
            }
            let received = queue.receive(2, Duration::ZERO).await.unwrap();
            queue.delete(&received[0].receipt_handle).await.unwrap();
            // "b" was received, not deleted: it comes back, as after a visibility timeout.
        }
        let queue = LocalQueue::durable("process", VISIBLE, &path).unwrap();
        let again = queue.receive(10, Duration::ZERO).await.unwrap();
        let seen: Vec<_> =
            again.iter().map(|m| (m.body.as_str(), m.attributes["k"].as_str(), m.receive_count)).collect();
        assert_eq!(seen, [("b", "b", 1), ("c", "c", 1), ("d", "d", 1)]);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_off_and_later_records_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        {
            let queue = LocalQueue::durable("q", VISIBLE, &path).unwrap();
            send(&queue, "whole").await;
        }
        // A kill in the middle of a write.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"send\":{\"id\":\"x").unwrap();
        {
            let queue = LocalQueue::durable("q", VISIBLE, &path).unwrap();
            send(&queue, "after").await;
        }
        let queue = LocalQueue::durable("q", VISIBLE, &path).unwrap();
        assert_eq!(bodies(&queue).await, ["whole", "after"]);
    }

    #[tokio::test]
    async fn a_move_to_the_dead_letter_queue_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (source, dead) = (dir.path().join("q.jsonl"), dir.path().join("q-dlq.jsonl"));
        let open = || {
            let dead_letter = Arc::new(LocalQueue::durable("q-dlq", VISIBLE, &dead).unwrap());
            let queue =
                LocalQueue::durable("q", Duration::ZERO, &source).unwrap().with_dead_letter(dead_letter.clone(), 1);
            (queue, dead_letter)
        };
        {
            let (queue, _) = open();
            send(&queue, "poison").await;
            assert_eq!(queue.receive(1, Duration::ZERO).await.unwrap().len(), 1);
            // Received once already: the next receive moves it.
            assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
        }
        let (queue, dead_letter) = open();
        assert!(queue.is_empty());
        assert_eq!(bodies(&dead_letter).await, ["poison"]);
    }

    #[tokio::test]
    async fn the_journal_stays_small_while_messages_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        let queue = LocalQueue::durable("q", VISIBLE, &path).unwrap();
        send(&queue, "stays").await;
        let _stays = queue.receive(1, Duration::ZERO).await.unwrap();
        for n in 0..5000 {
            send(&queue, &format!("m{n}")).await;
            let received = queue.receive(1, Duration::ZERO).await.unwrap();
            queue.delete(&received[0].receipt_handle).await.unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 2 + COMPACT_SLACK + 2, "{lines} lines");
        drop(queue);
        assert_eq!(bodies(&LocalQueue::durable("q", VISIBLE, &path).unwrap()).await, ["stays"]);
    }
}
