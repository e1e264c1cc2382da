//! A directory store that records what is put into and read from it, and fails one put on
//! request: before the object is stored, or after (the answer is lost on the way back). Its
//! reads can take a while, as a network store's do, so a test sees how many overlap.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use seams_platform::object_store::{FsObjectStore, Object, ObjectInfo, ObjectStore, PutOptions, StoreError};

/// Which put fails (counting from 1), and whether the object was stored first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutFault {
    pub at: usize,
    pub stored: bool,
}

pub struct RecordingStore {
    inner: FsObjectStore,
    fault: Option<PutFault>,
    attempts: AtomicUsize,
    puts: Mutex<Vec<(String, usize)>>,
    gets: Mutex<Vec<String>>,
    get_latency: Duration,
    gets_in_flight: AtomicUsize,
    most_gets_in_flight: AtomicUsize,
}

impl RecordingStore {
    pub fn new(root: &Path, fault: Option<PutFault>) -> Self {
        Self {
            inner: FsObjectStore::new(root),
            fault,
            attempts: AtomicUsize::new(0),
            puts: Mutex::default(),
            gets: Mutex::default(),
            get_latency: Duration::ZERO,
            gets_in_flight: AtomicUsize::new(0),
            most_gets_in_flight: AtomicUsize::new(0),
        }
    }

    /// Each read waits `latency` before it answers.
    pub fn with_get_latency(mut self, latency: Duration) -> Self {
        self.get_latency = latency;
        self
    }

    /// The most reads that were waiting at one time.
    pub fn most_gets_in_flight(&self) -> usize {
        self.most_gets_in_flight.load(Ordering::SeqCst)
    }

    /// Every put tried, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// The key and size of every object stored, in order.
    pub fn puts(&self) -> Vec<(String, usize)> {
        self.puts.lock().map(|puts| puts.clone()).unwrap_or_default()
    }

    /// The keys read since the last call.
    pub fn take_gets(&self) -> Vec<String> {
        self.gets.lock().map(|mut gets| std::mem::take(&mut *gets)).unwrap_or_default()
    }
}

#[async_trait]
impl ObjectStore for RecordingStore {
    fn location(&self) -> &str {
        self.inner.location()
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<ObjectInfo, StoreError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = self.fault.filter(|fault| fault.at == n);
        if fault.is_some_and(|fault| !fault.stored) {
            return Err(StoreError::Transient(format!("put {n} failed before storing {key}")));
        }
        let size = body.len();
        let info = self.inner.put(key, body, options).await?;
        if let Ok(mut puts) = self.puts.lock() {
            puts.push((key.to_owned(), size));
        }
        match fault {
            Some(_) => Err(StoreError::Transient(format!("put {n} stored {key}, but its answer was lost"))),
            None => Ok(info),
        }
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        if let Ok(mut gets) = self.gets.lock() {
            gets.push(key.to_owned());
        }
        let in_flight = self.gets_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_gets_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        if !self.get_latency.is_zero() {
            tokio::time::sleep(self.get_latency).await;
        }
        let object = self.inner.get(key).await;
        self.gets_in_flight.fetch_sub(1, Ordering::SeqCst);
        object
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}
