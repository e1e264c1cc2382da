//! The embedded index on Lambda: the SQLite file lives as one object in retrieve's own
//! bucket. The indexer (reserved concurrency 1) downloads it when it changed, writes, and
//! uploads with a conditional put on the ETag it started from, so two writers can never
//! overwrite each other's update: the loser reloads and writes again. Query functions load
//! the snapshot at init and look for a newer one at most every `refresh` interval.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use seams_contracts::process::EmbeddingModel;
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_platform::retry::RetryPolicy;
use tokio::sync::Mutex;

use crate::index::{Hit, IndexError, IndexedDocument, SearchIndex, SearchQuery, Upserted};
use crate::sqlite::SqliteIndex;

/// The snapshot's key in retrieve's bucket.
pub const SNAPSHOT_KEY: &str = "index/seams.sqlite";

/// A write that lost a race waits (exponential backoff, full jitter) and tries again; after
/// this many attempts it gives up and SQS redelivers. Without the wait the loser, which must
/// download the winner's snapshot, stays a step behind a writer with more to write.
const WRITE_RETRY: RetryPolicy =
    RetryPolicy { max_attempts: 8, base_delay: Duration::from_millis(25), max_delay: Duration::from_secs(1) };

/// Tells apart the files of several snapshot indexes in one process (tests, the local runner).
static INSTANCES: AtomicU64 = AtomicU64::new(0);

struct Loaded {
    index: Arc<SqliteIndex>,
    /// The snapshot's ETag the local file matches; `None` while no snapshot exists.
    etag: Option<String>,
    checked_at: Instant,
    generation: u64,
}

pub struct SnapshotIndex {
    store: Arc<dyn ObjectStore>,
    /// Scratch directory for the downloaded file (Lambda's /tmp).
    dir: PathBuf,
    /// This instance's file name prefix in `dir`.
    name: String,
    model: EmbeddingModel,
    refresh: Duration,
    loaded: Mutex<Loaded>,
}

fn store_error(error: StoreError) -> IndexError {
    IndexError::Unavailable(format!("snapshot: {error}"))
}

enum Write<'a> {
    Upsert(&'a IndexedDocument),
    Delete(&'a str, DateTime<Utc>),
}

impl SnapshotIndex {
    /// Loads the current snapshot (or starts an empty index if there is none yet).
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        dir: PathBuf,
        model: EmbeddingModel,
        refresh: Duration,
    ) -> Result<Self, IndexError> {
        let name = format!("snapshot-{}-{}", std::process::id(), INSTANCES.fetch_add(1, Ordering::Relaxed));
        let index = Arc::new(open_file(&dir.join(format!("{name}-0.sqlite")), &model, None)?);
        let empty = Loaded { index, etag: None, checked_at: Instant::now(), generation: 0 };
        let snapshot = Self { store, dir, name, model, refresh, loaded: Mutex::new(empty) };
        {
            let mut loaded = snapshot.loaded.lock().await;
            snapshot.reload(&mut loaded).await?;
        }
        Ok(snapshot)
    }

    /// Replaces the local file with the stored snapshot if its ETag changed.
    async fn reload(&self, loaded: &mut Loaded) -> Result<(), IndexError> {
        loaded.checked_at = Instant::now();
        let stored = match self.store.head(SNAPSHOT_KEY).await {
            Ok(info) => info.etag,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(store_error(error)),
        };
        if stored.is_some() && stored == loaded.etag {
            return Ok(());
        }
        let object = self.store.get(SNAPSHOT_KEY).await.map_err(store_error)?;
        let generation = loaded.generation + 1;
        let path = self.dir.join(format!("{}-{generation}.sqlite", self.name));
        let index = open_file(&path, &self.model, Some(&object.body))?;
        let previous = std::mem::replace(&mut loaded.index, Arc::new(index));
        (loaded.etag, loaded.generation) = (object.info.etag, generation);
        // Searches still holding the old file keep it open; unlinking is safe on Unix.
        let _ = std::fs::remove_file(previous.path());
        Ok(())
    }

    /// Applies a write to the latest snapshot and uploads it, retrying lost races.
    async fn write(&self, write: Write<'_>) -> Result<Upserted, IndexError> {
        let mut loaded = self.loaded.lock().await;
        for attempt in 1..=WRITE_RETRY.max_attempts {
            if attempt > 1 {
                tokio::time::sleep(WRITE_RETRY.random_delay(attempt - 1)).await;
            }
            self.reload(&mut loaded).await?;
            let outcome = match write {
                Write::Upsert(document) => loaded.index.upsert(document).await?,
                Write::Delete(document_id, at) => {
                    loaded.index.delete(document_id, at).await.map(|()| Upserted::Replaced)?
                }
            };
            if outcome == Upserted::Stale {
                return Ok(outcome);
            }
            let body = Bytes::from(loaded.index.read_file()?);
            let condition = match &loaded.etag {
                Some(etag) => PutOptions::if_match(etag.clone()),
                None => PutOptions::if_absent(),
            };
            match self.store.put(SNAPSHOT_KEY, body, condition).await {
                Ok(info) => {
                    loaded.etag = info.etag;
                    return Ok(outcome);
                }
                Err(StoreError::PreconditionFailed { .. } | StoreError::AlreadyExists { .. }) => {
                    tracing::info!("another writer updated the snapshot first; reloading");
                    // Forget the local file's ETag so the next reload downloads theirs.
                    loaded.etag = Some(String::new());
                }
                Err(error) => return Err(store_error(error)),
            }
        }
        Err(IndexError::Unavailable(format!("snapshot: lost {} write races in a row", WRITE_RETRY.max_attempts)))
    }

    /// The index to search, reloaded first if the refresh interval has passed.
    async fn current(&self) -> Result<Arc<SqliteIndex>, IndexError> {
        let mut loaded = self.loaded.lock().await;
        if loaded.checked_at.elapsed() >= self.refresh {
            self.reload(&mut loaded).await?;
        }
        Ok(loaded.index.clone())
    }
}

/// Opens `path` holding `body`, or an empty index when there is no snapshot yet.
fn open_file(path: &Path, model: &EmbeddingModel, body: Option<&[u8]>) -> Result<SqliteIndex, IndexError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write = std::fs::create_dir_all(dir).and_then(|()| match body {
        Some(body) => std::fs::write(path, body),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    });
    write.map_err(|e| IndexError::Unavailable(format!("snapshot: {}: {e}", path.display())))?;
    SqliteIndex::open(path, model.clone())
}

#[async_trait]
impl SearchIndex for SnapshotIndex {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    async fn upsert(&self, document: &IndexedDocument) -> Result<Upserted, IndexError> {
        self.write(Write::Upsert(document)).await
    }

    async fn delete(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError> {
        self.write(Write::Delete(document_id, deleted_at)).await.map(|_| ())
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        self.current().await?.search(query).await
    }
}
