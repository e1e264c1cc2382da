//! ingest's own bucket, and how it is laid out:
//!
//! ```text
//! raw/{document_id}/{fingerprint hex}        each distinct version's bytes (process reads raw/ only)
//! versions/{document_id}/{version:010}.json  one StoredVersion per version, claimed with put-if-absent
//! tombstones/{document_id}.json              present while a document is deleted
//! uploads/{upload_id}/document               presigned upload targets
//! upload-tickets/{upload_id}.json            what an upload will be (its UploadRequest)
//! ledger/                                    idempotency records, one per (document id, fingerprint)
//! ```

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use seams_contracts::ingest::{DocumentSummary, StoredVersion, UploadRequest};
use seams_platform::object_store::{ObjectStore, PutOptions, StoreError};
use seams_platform::ServiceError;
use serde::{Deserialize, Serialize};

pub const LEDGER_PREFIX: &str = "ledger/";

pub fn raw_key(document_id: &str, fingerprint_hex: &str) -> String {
    format!("raw/{document_id}/{fingerprint_hex}")
}

pub fn upload_key(upload_id: &str) -> String {
    format!("uploads/{upload_id}/document")
}

const VERSIONS_PREFIX: &str = "versions/";

fn versions_prefix(document_id: &str) -> String {
    format!("{VERSIONS_PREFIX}{document_id}/")
}

fn tombstone_key(document_id: &str) -> String {
    format!("tombstones/{document_id}.json")
}

fn ticket_key(upload_id: &str) -> String {
    format!("upload-tickets/{upload_id}.json")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tombstone {
    pub deleted_at: DateTime<Utc>,
}

/// Version records read at once, within S3's per-prefix request rates and a Lambda's sockets.
const VERSION_READS: usize = 16;

/// A version being claimed gives up after this many concurrent claims beat it.
const VERSION_CLAIM_ROUNDS: u32 = 100;

#[derive(Clone)]
pub struct DocumentStore {
    pub bucket: Arc<dyn ObjectStore>,
}

fn corrupt(key: &str, error: serde_json::Error) -> ServiceError {
    ServiceError::transient(format!("{key} is unreadable: {error}"))
}

impl DocumentStore {
    async fn put_json<T: Serialize>(&self, key: &str, value: &T, options: PutOptions) -> Result<(), StoreError> {
        let body = serde_json::to_vec(value).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.bucket.put(key, Bytes::from(body), options).await.map(drop)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, ServiceError> {
        match self.bucket.get(key).await {
            Ok(object) => serde_json::from_slice(&object.body).map(Some).map_err(|e| corrupt(key, e)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored version of a document, oldest first. Read several at a time: one at a
    /// time, a document updated hundreds of times waited for hundreds of S3 round trips.
    pub async fn versions(&self, document_id: &str) -> Result<Vec<StoredVersion>, ServiceError> {
        let objects = self.bucket.list(&versions_prefix(document_id)).await?;
        let read: Vec<Option<StoredVersion>> = stream::iter(objects)
            .map(|object| async move { self.get_json::<StoredVersion>(&object.key).await })
            .buffered(VERSION_READS)
            .try_collect()
            .await?;
        let mut versions: Vec<StoredVersion> = read.into_iter().flatten().collect();
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    /// At most `limit` documents whose ids sort after `after`, in id order, and the id to
    /// continue after when there are more.
    pub async fn documents(
        &self,
        after: Option<&str>,
        limit: usize,
        within: Option<&str>,
    ) -> Result<(Vec<DocumentSummary>, Option<String>), ServiceError> {
        // The latest version key of each document: keys sort by zero-padded version.
        let mut latest: std::collections::BTreeMap<String, (String, u32)> = Default::default();
        for object in self.bucket.list(VERSIONS_PREFIX).await? {
            let Some((document_id, _)) = object.key[VERSIONS_PREFIX.len()..].split_once('/') else { continue };
            if after.is_some_and(|after| document_id <= after) || within.is_some_and(|p| !document_id.starts_with(p)) {
                continue;
            }
            let entry = latest.entry(document_id.to_owned()).or_insert_with(|| (object.key.clone(), 0));
            if object.key > entry.0 {
                entry.0 = object.key.clone();
            }
            entry.1 += 1;
        }
        let more = latest.len() > limit;
        let mut documents = Vec::new();
        for (document_id, (key, version_count)) in latest.into_iter().take(limit) {
            let Some(stored) = self.get_json::<StoredVersion>(&key).await? else { continue };
            let deleted = self.tombstone(&document_id).await?.is_some();
            let title = match stored.attributes.get("title") {
                Some(seams_contracts::AttributeValue::String(title)) => Some(title.clone()),
                _ => None,
            };
            documents.push(DocumentSummary {
                document_id,
                title,
                latest_version: stored.version,
                version_count,
                source_uri: stored.source_uri,
                attributes: stored.attributes,
                deleted,
            });
        }
        let next_after = if more { documents.last().map(|d| d.document_id.clone()) } else { None };
        Ok((documents, next_after))
    }

    /// The version number of this content: the one it already has, else the next free one,
    /// claimed atomically so concurrent new contents get distinct numbers.
    pub async fn assign_version(&self, document_id: &str, mut stored: StoredVersion) -> Result<u32, ServiceError> {
        let existing = self.versions(document_id).await?;
        if let Some(same) = existing.iter().find(|v| v.fingerprint == stored.fingerprint) {
            return Ok(same.version);
        }
        let mut next = existing.last().map_or(1, |v| v.version + 1);
        for _ in 0..VERSION_CLAIM_ROUNDS {
            stored.version = next;
            let key = format!("{}{next:010}.json", versions_prefix(document_id));
            let options = PutOptions { content_type: Some("application/json".into()), ..PutOptions::if_absent() };
            match self.put_json(&key, &stored, options).await {
                Ok(()) => return Ok(next),
                Err(StoreError::AlreadyExists { .. }) => {
                    // Ours, if an earlier attempt's put was stored and its answer lost.
                    let taken = self.get_json::<StoredVersion>(&key).await?;
                    if taken.is_some_and(|taken| taken.fingerprint == stored.fingerprint) {
                        return Ok(next);
                    }
                    next += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::transient(format!(
            "could not claim a version of {document_id}: too many concurrent versions"
        )))
    }

    pub async fn tombstone(&self, document_id: &str) -> Result<Option<Tombstone>, ServiceError> {
        self.get_json(&tombstone_key(document_id)).await
    }

    pub async fn bury(&self, document_id: &str, tombstone: &Tombstone) -> Result<(), ServiceError> {
        Ok(self.put_json(&tombstone_key(document_id), tombstone, PutOptions::default()).await?)
    }

    pub async fn revive(&self, document_id: &str) -> Result<(), ServiceError> {
        Ok(self.bucket.delete(&tombstone_key(document_id)).await?)
    }

    pub async fn save_ticket(&self, upload_id: &str, request: &UploadRequest) -> Result<(), ServiceError> {
        Ok(self.put_json(&ticket_key(upload_id), request, PutOptions::if_absent()).await?)
    }

    pub async fn ticket(&self, upload_id: &str) -> Result<Option<UploadRequest>, ServiceError> {
        self.get_json(&ticket_key(upload_id)).await
    }

    /// Removes an upload and its ticket once the document is stored (or refused).
    pub async fn discard_upload(&self, upload_id: &str) -> Result<(), ServiceError> {
        self.bucket.delete(&upload_key(upload_id)).await?;
        Ok(self.bucket.delete(&ticket_key(upload_id)).await?)
    }
}
