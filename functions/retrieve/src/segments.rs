//! The embedded index on Lambda, in retrieve's own bucket as segments ([`crate::manifest`]).
//! A write uploads a segment holding just that write (unless it is small enough to ride in
//! the manifest), then the manifest with a conditional put on the ETag it started from, so
//! two writers can never lose each other's write: the loser catches up and writes again.
//! Every function keeps a local SQLite copy and fetches only the segments it lacks; the
//! indexer (reserved concurrency 1) also merges segments and folds them into a new base once
//! the log is big enough. Decision 0034.
//!
//! A crash anywhere leaves the index readable and complete: a segment or base no manifest
//! names is never read, and the manifest names only objects already stored. What a failed
//! write left behind the retry writes again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{stream, StreamExt, TryStreamExt};
use seams_contracts::process::EmbeddingModel;
use seams_platform::metrics::{self, Unit};
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_platform::retry::RetryPolicy;
use tokio::sync::Mutex;

use crate::index::{Hit, IndexError, IndexedDocument, SearchIndex, SearchQuery, Upserted};
use crate::manifest::{
    self, Base, LogPolicy, LoggedWrite, Manifest, SegmentBody, SegmentRef, Write, LEGACY_SNAPSHOT_KEY, MANIFEST_KEY,
};
use crate::sqlite::SqliteIndex;

/// A write that lost a race waits (exponential backoff, full jitter) and tries again; after
/// this many attempts it gives up and SQS redelivers.
const WRITE_RETRY: RetryPolicy =
    RetryPolicy { max_attempts: 8, base_delay: Duration::from_millis(25), max_delay: Duration::from_secs(1) };

/// A reader that finds an object gone (a compaction freed it after the manifest it read)
/// reads the manifest again, at most this many times.
const CATCH_UP_ATTEMPTS: usize = 3;

/// Objects a catch-up fetches at once.
const FETCH_CONCURRENCY: usize = 8;

/// Tells apart the files of several indexes in one process (tests, the local runner).
static INSTANCES: AtomicU64 = AtomicU64::new(0);

struct Local {
    /// The local copy; `None` only before the first catch-up has loaded a base.
    index: Option<Arc<SqliteIndex>>,
    /// The number of the last write the local file holds; `None` when unknown (before the
    /// first catch-up, or after a write whose commit is in doubt), which reloads the base.
    applied: Option<u64>,
    /// The manifest last read or committed, when `checked_at`. A write within the refresh
    /// interval starts from it instead of reading it again: the conditional put still
    /// refuses it if another writer has committed since.
    known: Option<Current>,
    checked_at: Instant,
    generation: u64,
}

impl Local {
    fn index(&self) -> Result<&Arc<SqliteIndex>, IndexError> {
        self.index.as_ref().ok_or_else(|| IndexError::Unavailable("segments: no local copy loaded".into()))
    }
}

pub struct SegmentedIndex {
    store: Arc<dyn ObjectStore>,
    /// Scratch directory for the local copy (Lambda's /tmp).
    dir: PathBuf,
    /// This instance's file name prefix in `dir`.
    name: String,
    model: EmbeddingModel,
    refresh: Duration,
    policy: LogPolicy,
    local: Mutex<Local>,
}

/// The manifest as read, with the ETag a replacement must match (`None`: none stored yet).
#[derive(Clone)]
struct Current {
    manifest: Manifest,
    etag: Option<String>,
}

/// Why catching up stopped: an object a compaction freed (read the manifest again), or a
/// failure.
enum CatchUpError {
    Gone(String),
    Failed(IndexError),
}

impl From<StoreError> for CatchUpError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { key } => CatchUpError::Gone(key),
            other => CatchUpError::Failed(store_error(other)),
        }
    }
}

impl From<IndexError> for CatchUpError {
    fn from(error: IndexError) -> Self {
        CatchUpError::Failed(error)
    }
}

fn store_error(error: StoreError) -> IndexError {
    IndexError::Unavailable(format!("segments: {error}"))
}

/// What the index puts, in bytes, for the operator's view of what writes cost.
fn uploaded(bytes: usize) {
    metrics::record("IndexBytesUploaded", bytes as f64, Unit::Bytes, None);
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl SegmentedIndex {
    /// Opens the stored index (or an empty one if nothing is stored yet) and catches up.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        dir: PathBuf,
        model: EmbeddingModel,
        refresh: Duration,
    ) -> Result<Self, IndexError> {
        let name = format!("segmented-{}-{}", std::process::id(), INSTANCES.fetch_add(1, Ordering::Relaxed));
        let local = Local { index: None, applied: None, known: None, checked_at: Instant::now(), generation: 0 };
        let segmented =
            Self { store, dir, name, model, refresh, policy: LogPolicy::default(), local: Mutex::new(local) };
        {
            let mut local = segmented.local.lock().await;
            segmented.catch_up(&mut local).await?;
        }
        Ok(segmented)
    }

    /// Merges and compacts by `policy` instead of the default.
    pub fn with_policy(mut self, policy: LogPolicy) -> Self {
        self.policy = policy;
        self
    }

    async fn read_manifest(&self) -> Result<Current, IndexError> {
        match self.store.get(MANIFEST_KEY).await {
            Ok(object) => {
                let manifest = serde_json::from_slice(&object.body)
                    .map_err(|e| IndexError::Unavailable(format!("segments: {MANIFEST_KEY}: {e}")))?;
                Ok(Current { manifest, etag: object.info.etag })
            }
            Err(StoreError::NotFound { .. }) => match self.store.head(LEGACY_SNAPSHOT_KEY).await {
                Ok(info) => Ok(Current { manifest: Manifest::legacy(info.size), etag: None }),
                Err(StoreError::NotFound { .. }) => Ok(Current { manifest: Manifest::default(), etag: None }),
                Err(error) => Err(store_error(error)),
            },
            Err(error) => Err(store_error(error)),
        }
    }

    /// Brings the local copy up to the stored manifest and returns it.
    async fn catch_up(&self, local: &mut Local) -> Result<Current, IndexError> {
        local.checked_at = Instant::now();
        let mut attempt = 1;
        loop {
            let current = self.read_manifest().await?;
            match self.apply_manifest(local, &current.manifest).await {
                Ok(()) => {
                    local.known = Some(current.clone());
                    return Ok(current);
                }
                // Freed by a compaction after we read the manifest: the next one names its base.
                Err(CatchUpError::Gone(key)) if attempt < CATCH_UP_ATTEMPTS => {
                    tracing::info!(%key, "an index object was compacted away; reading the manifest again");
                    attempt += 1;
                }
                Err(CatchUpError::Gone(key)) => {
                    return Err(IndexError::Unavailable(format!("segments: {key} is gone from every manifest read")))
                }
                Err(CatchUpError::Failed(error)) => return Err(error),
            }
        }
    }

    /// Applies what `manifest` holds that the local copy lacks: the writes after it, or the
    /// base and the whole log when the base has moved past it. The objects are fetched side
    /// by side, so a cold start after many writes pays about one round trip, not one each.
    async fn apply_manifest(&self, local: &mut Local, manifest: &Manifest) -> Result<(), CatchUpError> {
        let kept = local.applied.filter(|applied| (manifest.base_through()..=manifest.through()).contains(applied));
        let base = async {
            match (kept, &manifest.base) {
                (None, Some(base)) => self.store.get(&base.key).await.map(|object| Some(object.body)),
                _ => Ok(None),
            }
        };
        // Owned: a stream over borrowed segments fails async_trait's `Send` bound (higher-ranked
        // lifetimes).
        let lacking: Vec<SegmentRef> =
            manifest.segments_after(kept.unwrap_or(manifest.base_through())).cloned().collect();
        let segments = stream::iter(lacking)
            .map(|segment| async move { self.segment_body(&segment).await.map(|body| (segment, body)) })
            .buffered(FETCH_CONCURRENCY)
            .try_collect::<Vec<_>>();
        let (base, segments) = futures::try_join!(base, segments)?;
        if kept.is_none() {
            self.load_base(local, manifest.base.as_ref(), base)?;
        }
        for (segment, body) in segments {
            let writes = manifest::decode(&body).map_err(|e| {
                let at = segment.key().unwrap_or(MANIFEST_KEY);
                IndexError::Unavailable(format!("segments: {at}, writes {}-{}: {e}", segment.first, segment.last))
            })?;
            for logged in writes {
                // A merged segment also holds writes the local copy has.
                if local.applied.is_some_and(|applied| logged.seq <= applied) {
                    continue;
                }
                local.applied = None;
                apply(local.index()?, &logged.write).await?;
                local.applied = Some(logged.seq);
            }
        }
        Ok(())
    }

    /// A segment's lines: from the manifest, or fetched.
    async fn segment_body(&self, segment: &SegmentRef) -> Result<Bytes, StoreError> {
        match &segment.body {
            SegmentBody::Inline { lines } => Ok(Bytes::copy_from_slice(lines.as_bytes())),
            SegmentBody::Stored { key } => self.store.get(key).await.map(|object| object.body),
        }
    }

    /// Replaces the local file with `base`, whose stored object is `body` (an empty index
    /// when there is no base).
    fn load_base(&self, local: &mut Local, base: Option<&Base>, body: Option<Bytes>) -> Result<(), IndexError> {
        local.applied = None;
        let generation = local.generation + 1;
        let path = self.dir.join(format!("{}-{generation}.sqlite", self.name));
        let index = open_file(&path, &self.model, body.as_deref())?;
        let previous = local.index.replace(Arc::new(index));
        let through = base.map_or(0, |base| base.through);
        (local.generation, local.applied) = (generation, Some(through));
        // Searches still holding the old file keep it open; unlinking is safe on Unix.
        if let Some(previous) = previous {
            let _ = std::fs::remove_file(previous.path());
        }
        Ok(())
    }

    /// Applies a write locally, then stores it as a segment and commits it to the manifest,
    /// retrying lost races.
    async fn write(&self, write: Write) -> Result<Upserted, IndexError> {
        let mut local = self.local.lock().await;
        for attempt in 1..=WRITE_RETRY.max_attempts {
            if attempt > 1 {
                tokio::time::sleep(WRITE_RETRY.random_delay(attempt - 1)).await;
            }
            let current = match self.known_current(&mut local) {
                Some(known) if attempt == 1 => known,
                _ => self.catch_up(&mut local).await?,
            };
            let outcome = apply(local.index()?, &write).await?;
            if outcome == Upserted::Stale {
                local.known = Some(current);
                return Ok(outcome);
            }
            // The local copy now holds a write no manifest names: until one does, it is in doubt.
            local.applied = None;
            match self.commit(&current, &write).await {
                Ok((seq, committed)) => {
                    local.applied = Some(seq);
                    local.known = Some(self.maintain(&local, committed).await);
                    local.checked_at = Instant::now();
                    return Ok(outcome);
                }
                Err(StoreError::PreconditionFailed { .. } | StoreError::AlreadyExists { .. }) => {
                    tracing::info!("another writer committed first; catching up");
                }
                Err(error) => return Err(store_error(error)),
            }
        }
        Err(IndexError::Unavailable(format!("segments: lost {} write races in a row", WRITE_RETRY.max_attempts)))
    }

    /// The manifest the local copy was last brought to, if that was within the refresh
    /// interval; a write at cold start or in a batch then skips reading it again.
    fn known_current(&self, local: &mut Local) -> Option<Current> {
        let known = local.known.take()?;
        let fresh = local.checked_at.elapsed() < self.refresh;
        (fresh && local.applied == Some(known.manifest.through())).then_some(known)
    }

    /// Stores `write`'s segment (unless it rides in the manifest), then the manifest that
    /// names it; the write's number and the manifest as committed.
    async fn commit(&self, current: &Current, write: &Write) -> Result<(u64, Current), StoreError> {
        let seq = current.manifest.through() + 1;
        let lines = manifest::encode(&LoggedWrite { seq, write: write.clone() })
            .map_err(|e| StoreError::Refused(format!("segment: {e}")))?;
        let bytes = lines.len() as u64;
        let body = if current.manifest.inlines(bytes, &self.policy) {
            SegmentBody::Inline { lines }
        } else {
            let key = manifest::segment_key(seq, seq, &nonce());
            self.store.put(&key, Bytes::from(lines), PutOptions::if_absent()).await?;
            uploaded(bytes as usize);
            SegmentBody::Stored { key }
        };
        let (next, _) = current.manifest.appended(body, bytes);
        let committed = self.replace_manifest(current, next).await?;
        Ok((seq, committed))
    }

    async fn replace_manifest(&self, current: &Current, next: Manifest) -> Result<Current, StoreError> {
        let body = serde_json::to_vec(&next).map_err(|e| StoreError::Refused(format!("manifest: {e}")))?;
        let condition = match &current.etag {
            Some(etag) => PutOptions::if_match(etag.clone()),
            None => PutOptions::if_absent(),
        };
        let size = body.len();
        let info = self.store.put(MANIFEST_KEY, Bytes::from(body), condition).await?;
        uploaded(size);
        Ok(Current { manifest: next, etag: info.etag })
    }

    /// Merges segments and compacts the log when due; the manifest as last committed. The
    /// write is already committed, so a failure here is logged and left for the next write
    /// to try again.
    async fn maintain(&self, local: &Local, mut current: Current) -> Current {
        while let Some(range) = current.manifest.merge_due(&self.policy) {
            match self.merge(&current, range).await {
                Ok(merged) => current = merged,
                Err(error) => {
                    tracing::warn!(%error, "merging segments failed; the next write tries again");
                    return current;
                }
            }
        }
        if current.manifest.compaction_due(&self.policy) {
            match self.compact(local, &current).await {
                Ok(Some(compacted)) => return compacted,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "compacting the index failed; the next write tries again"),
            }
        }
        current
    }

    /// Replaces the segments in `range` with one holding their writes, in order.
    async fn merge(&self, current: &Current, range: std::ops::Range<usize>) -> Result<Current, StoreError> {
        let run = &current.manifest.segments[range.clone()];
        let mut body = Vec::with_capacity(run.iter().map(|s| s.bytes as usize).sum());
        for segment in run {
            body.extend_from_slice(&self.segment_body(segment).await?);
        }
        let (first, last) = (run.first().map_or(0, |s| s.first), run.last().map_or(0, |s| s.last));
        let key = manifest::segment_key(first, last, &nonce());
        let size = body.len();
        self.store.put(&key, Bytes::from(body), PutOptions::if_absent()).await?;
        uploaded(size);
        metrics::count("IndexMerges", 1.0, None);
        let next = current.manifest.merged(range, key);
        let committed = self.replace_manifest(current, next).await?;
        self.free(&current.manifest, &committed.manifest).await;
        Ok(committed)
    }

    /// Stores the local copy (which holds every committed write) as the new base; the
    /// manifest that names it (`None` when the local copy is behind and nothing was done).
    async fn compact(&self, local: &Local, current: &Current) -> Result<Option<Current>, IndexError> {
        let through = current.manifest.through();
        if local.applied != Some(through) {
            return Ok(None);
        }
        let body = local.index()?.read_file()?;
        let base = Base { key: manifest::base_key(through, &nonce()), through, bytes: body.len() as u64 };
        self.store.put(&base.key, Bytes::from(body), PutOptions::if_absent()).await.map_err(store_error)?;
        uploaded(base.bytes as usize);
        metrics::count("IndexCompactions", 1.0, None);
        let committed = self.replace_manifest(current, current.manifest.compacted(base)).await.map_err(store_error)?;
        tracing::info!(through, "compacted the index into a new base");
        self.free(&current.manifest, &committed.manifest).await;
        Ok(Some(committed))
    }

    /// Deletes what `before` named and `after` does not. A reader that still wanted one
    /// reads the manifest again and finds the base that replaced it.
    async fn free(&self, before: &Manifest, after: &Manifest) {
        for key in before.replaced_by(after) {
            if let Err(error) = self.store.delete(&key).await {
                tracing::warn!(%key, %error, "could not delete a replaced index object");
            }
        }
    }

    /// The index to search, caught up first if the refresh interval has passed.
    async fn current(&self) -> Result<Arc<SqliteIndex>, IndexError> {
        let mut local = self.local.lock().await;
        if local.checked_at.elapsed() >= self.refresh {
            self.catch_up(&mut local).await?;
        }
        local.index().cloned()
    }
}

async fn apply(index: &SqliteIndex, write: &Write) -> Result<Upserted, IndexError> {
    match write {
        Write::Upsert(document) => index.upsert(document).await,
        Write::Delete { document_id, deleted_at } => {
            index.delete(document_id, *deleted_at).await.map(|()| Upserted::Replaced)
        }
    }
}

/// Opens `path` holding `body`, or an empty index when there is no base.
fn open_file(path: &Path, model: &EmbeddingModel, body: Option<&[u8]>) -> Result<SqliteIndex, IndexError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write = std::fs::create_dir_all(dir).and_then(|()| match body {
        Some(body) => std::fs::write(path, body),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    });
    write.map_err(|e| IndexError::Unavailable(format!("segments: {}: {e}", path.display())))?;
    SqliteIndex::open_copy(path, model.clone())
}

#[async_trait]
impl SearchIndex for SegmentedIndex {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    async fn upsert(&self, document: &IndexedDocument) -> Result<Upserted, IndexError> {
        self.write(Write::Upsert(Box::new(document.clone()))).await
    }

    async fn delete(&self, document_id: &str, deleted_at: DateTime<Utc>) -> Result<(), IndexError> {
        self.write(Write::Delete { document_id: document_id.into(), deleted_at }).await.map(|_| ())
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        self.current().await?.search(query).await
    }
}
