//! Doing a side effect at most once per key, over an [`ObjectStore`]'s put-if-absent.
//!
//! A caller first [`claims`](Idempotency::claim) the key. Exactly one concurrent claimant
//! gets [`Claim::Acquired`]; it performs the side effect, then [`completes`](Idempotency::complete)
//! the claim with its result, which later claimants receive as [`Claim::Completed`]. A claim
//! left in progress by a crashed caller expires after `claim_ttl` and can be taken over.
//! Services use [`claim_or_wait`](Idempotency::claim_or_wait): a duplicate in flight
//! elsewhere is waited for, then answered with the first caller's result.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::object_store::{ObjectStore, PutCondition, PutOptions, StoreError};

pub struct Idempotency {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    claim_ttl: Duration,
}

/// Proof of a claim; completing or releasing it checks the record was not taken over since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    record_key: String,
    etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim<T> {
    /// This caller owns the key: do the work, then `complete`.
    Acquired(ClaimToken),
    /// Done before: the stored result.
    Completed(T),
    /// Another caller holds an unexpired claim.
    InProgress { expires_at: DateTime<Utc> },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InProgress {
        claimed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        /// Who claimed: a claimant whose put was stored but whose answer was lost finds its
        /// own claim on the retry, and holds it rather than waiting for it to expire.
        #[serde(default)]
        claimant: Option<String>,
    },
    Completed {
        completed_at: DateTime<Utc>,
        result: serde_json::Value,
    },
}

/// What [`Idempotency::claim_or_wait`] ends with.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed<T> {
    /// This caller owns the key: do the work, then `complete` (or `release` on failure).
    Acquired(ClaimToken),
    /// Done before, or by the caller that was waited for: its result.
    Completed(T),
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("idempotency record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    /// Another caller still held the key when the wait ended.
    #[error("{key} is in progress elsewhere; retry shortly")]
    InProgress { key: String },
}

/// How often a waiting claimant looks again.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// How often a claim races a concurrent takeover or release before giving up as in progress.
const CLAIM_ROUNDS: usize = 3;

impl Idempotency {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>, claim_ttl: Duration) -> Self {
        Self { store, prefix: prefix.into(), claim_ttl }
    }

    /// Keys are hashed, so any string (a request id, `request_id/destination`) is a safe key.
    fn record_key(&self, key: &str) -> String {
        format!("{}{}.json", self.prefix, hex::encode(Sha256::digest(key.as_bytes())))
    }

    fn in_progress(&self, claimant: &str) -> Result<Bytes, IdempotencyError> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.claim_ttl).unwrap_or(chrono::Duration::MAX);
        let record = Record::InProgress { claimed_at: now, expires_at: now + ttl, claimant: Some(claimant.to_owned()) };
        Ok(Bytes::from(serde_json::to_vec(&record).map_err(|e| corrupt("new claim", e))?))
    }

    pub async fn claim<T: DeserializeOwned>(&self, key: &str) -> Result<Claim<T>, IdempotencyError> {
        let record_key = self.record_key(key);
        let claimant = uuid::Uuid::new_v4().to_string();
        for _ in 0..CLAIM_ROUNDS {
            match self.store.put_if_absent(&record_key, self.in_progress(&claimant)?).await {
                Ok(info) => return Ok(Claim::Acquired(ClaimToken { record_key, etag: info.etag })),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let existing = match self.store.get(&record_key).await {
                Ok(object) => object,
                // Released between our put and get: claim again.
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let record: Record = serde_json::from_slice(&existing.body).map_err(|e| corrupt(&record_key, e))?;
            match record {
                Record::Completed { result, .. } => {
                    let result = serde_json::from_value(result).map_err(|e| corrupt(&record_key, e))?;
                    return Ok(Claim::Completed(result));
                }
                Record::InProgress { claimant: Some(owner), .. } if owner == claimant => {
                    // Our own put, stored though its answer was lost.
                    return Ok(Claim::Acquired(ClaimToken { record_key, etag: existing.info.etag }));
                }
                Record::InProgress { expires_at, .. } if expires_at > Utc::now() => {
                    return Ok(Claim::InProgress { expires_at });
                }
                Record::InProgress { .. } => {
                    // Expired: take it over, unless someone else does first.
                    let Some(etag) = existing.info.etag else {
                        continue;
                    };
                    let options = PutOptions { content_type: None, condition: PutCondition::IfMatch(etag) };
                    match self.store.put(&record_key, self.in_progress(&claimant)?, options).await {
                        Ok(info) => return Ok(Claim::Acquired(ClaimToken { record_key, etag: info.etag })),
                        Err(StoreError::PreconditionFailed { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        let expires_at = Utc::now() + chrono::Duration::from_std(self.claim_ttl).unwrap_or_default();
        Ok(Claim::InProgress { expires_at })
    }

    /// Deletes every claim left in progress, so its work can start over at once rather than
    /// after `claim_ttl`. Only for a store whose claimants have all stopped: the local runner
    /// calls it as it starts, over its own data directory.
    pub async fn release_in_progress(&self) -> Result<usize, IdempotencyError> {
        let mut released = 0;
        for object in self.store.list(&self.prefix).await? {
            let existing = match self.store.get(&object.key).await {
                Ok(existing) => existing,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if let Ok(Record::InProgress { .. }) = serde_json::from_slice(&existing.body) {
                self.store.delete(&object.key).await?;
                released += 1;
            }
        }
        Ok(released)
    }

    /// Claims `key`; while another caller holds it, looks again until `wait` has passed,
    /// then gives up with [`IdempotencyError::InProgress`] (a transient failure: the caller's
    /// retry finds the result or takes over an expired claim).
    pub async fn claim_or_wait<T: DeserializeOwned>(
        &self,
        key: &str,
        wait: Duration,
    ) -> Result<Claimed<T>, IdempotencyError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.claim(key).await? {
                Claim::Acquired(token) => return Ok(Claimed::Acquired(token)),
                Claim::Completed(result) => return Ok(Claimed::Completed(result)),
                Claim::InProgress { .. } if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(WAIT_POLL).await;
                }
                Claim::InProgress { .. } => return Err(IdempotencyError::InProgress { key: key.to_owned() }),
            }
        }
    }

    /// Stores the result. Fails with `PreconditionFailed` if the claim expired and was taken
    /// over meanwhile (the side effect may then happen twice: keep `claim_ttl` above the
    /// longest run).
    pub async fn complete<T: Serialize>(&self, token: ClaimToken, result: &T) -> Result<(), IdempotencyError> {
        let result = serde_json::to_value(result).map_err(|e| corrupt(&token.record_key, e))?;
        let record = Record::Completed { completed_at: Utc::now(), result };
        let body = Bytes::from(serde_json::to_vec(&record).map_err(|e| corrupt(&token.record_key, e))?);
        let condition = token.etag.map(PutCondition::IfMatch).unwrap_or_default();
        self.store.put(&token.record_key, body, PutOptions { content_type: None, condition }).await?;
        Ok(())
    }

    /// Gives the claim up without a result (the work failed before any side effect), so the
    /// next attempt can claim at once. A release that fails is logged: the claim then expires
    /// on its own after `claim_ttl`.
    pub async fn release(&self, token: ClaimToken) {
        if let Err(error) = self.store.delete(&token.record_key).await {
            tracing::warn!(%error, key = token.record_key, "could not release a claim; it expires on its own");
        }
    }
}

fn corrupt(key: &str, error: serde_json::Error) -> IdempotencyError {
    IdempotencyError::Corrupt { key: key.to_owned(), reason: error.to_string() }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::object_store::{FsObjectStore, Object, ObjectInfo};

    /// A bucket whose first create-if-absent is stored but answered as S3 answers the SDK's
    /// retry of it: `AlreadyExists` (the first answer was lost on the way).
    struct FirstAnswerLost {
        inner: FsObjectStore,
        lost: AtomicBool,
    }

    #[async_trait]
    impl ObjectStore for FirstAnswerLost {
        fn location(&self) -> &str {
            self.inner.location()
        }
        async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<ObjectInfo, StoreError> {
            let creates = options.condition == PutCondition::IfAbsent;
            let stored = self.inner.put(key, body, options).await?;
            if creates && !self.lost.swap(true, Ordering::SeqCst) {
                return Err(StoreError::AlreadyExists { key: key.to_owned() });
            }
            Ok(stored)
        }
        async fn get(&self, key: &str) -> Result<Object, StoreError> {
            self.inner.get(key).await
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

    #[tokio::test]
    async fn a_claim_stored_without_an_answer_is_still_its_claimants() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FirstAnswerLost { inner: FsObjectStore::new(dir.path()), lost: AtomicBool::new(false) });
        let ledger = Idempotency::new(store, "ledger/", Duration::from_secs(300));
        let Claim::Acquired(token) = ledger.claim::<String>("doc-1/abc").await.unwrap() else {
            panic!("the claimant whose answer was lost holds its claim");
        };
        // Anyone else still waits for it.
        assert!(matches!(ledger.claim::<String>("doc-1/abc").await.unwrap(), Claim::InProgress { .. }));
        ledger.complete(token, &"v1".to_owned()).await.unwrap();
        assert_eq!(ledger.claim::<String>("doc-1/abc").await.unwrap(), Claim::Completed("v1".to_owned()));
    }
}
