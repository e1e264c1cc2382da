//! The `ObjectStore` seam: a service's own bucket, on S3 or on the local filesystem.

mod fs;
#[cfg(feature = "aws")]
mod s3;
mod upload_url;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use seams_contracts::ErrorName;

pub use fs::FsObjectStore;
#[cfg(feature = "aws")]
pub use s3::S3ObjectStore;
pub use upload_url::{UploadSigner, UploadUrlError, UPLOAD_PATH_PREFIX};

/// Why a store without a signer refuses upload URLs.
const NO_SIGNER: &str = "sign upload URLs here; `seams up` serves them, as S3 does when deployed";

/// What a store knows about an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Changes whenever the content changes; the token for [`PutCondition::IfMatch`].
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub info: ObjectInfo,
    pub body: Bytes,
}

/// When a put may happen. Conditional puts are atomic: of two concurrent writers with the
/// same condition, exactly one succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PutCondition {
    #[default]
    Always,
    /// Only if no object has the key (S3 `If-None-Match: *`); else `AlreadyExists`.
    IfAbsent,
    /// Only if the object still has this ETag (S3 `If-Match`); else `PreconditionFailed`.
    IfMatch(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub condition: PutCondition,
}

impl PutOptions {
    pub fn if_absent() -> Self {
        Self { content_type: None, condition: PutCondition::IfAbsent }
    }

    pub fn if_match(etag: impl Into<String>) -> Self {
        Self { content_type: None, condition: PutCondition::IfMatch(etag.into()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("object {key} already exists")]
    AlreadyExists { key: String },
    #[error("object {key} changed since it was read")]
    PreconditionFailed { key: String },
    #[error("object {key} does not exist")]
    NotFound { key: String },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// Worth retrying: throttled, a server error, or no answer.
    #[error("object store unavailable: {0}")]
    Transient(String),
    /// Not worth retrying: denied, misconfigured, or refused.
    #[error("object store refused the request: {0}")]
    Refused(String),
    /// The store cannot do this at all (a directory cannot sign upload URLs by itself).
    #[error("the object store cannot {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Whether the same request may succeed if sent again.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }

    pub fn error_name(&self) -> ErrorName {
        match self {
            StoreError::NotFound { .. } => ErrorName::NotFound,
            StoreError::InvalidKey { .. } => ErrorName::InvalidInput,
            StoreError::Unsupported(_) => ErrorName::Unsupported,
            // A lost race or a refusal is not the caller's input problem; the message is
            // retried (and ends in a DLQ if it keeps failing).
            StoreError::AlreadyExists { .. }
            | StoreError::PreconditionFailed { .. }
            | StoreError::Transient(_)
            | StoreError::Refused(_) => ErrorName::Transient,
        }
    }
}

/// A bucket owned by one service.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The bucket name (S3) or root directory (filesystem), as it appears in an `ObjectRef`.
    fn location(&self) -> &str;

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<ObjectInfo, StoreError>;

    async fn get(&self, key: &str) -> Result<Object, StoreError>;

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError>;

    /// Every object whose key starts with `prefix`, in key order (ETags only where the
    /// store has them without reading the objects).
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Removes the object; removing one that does not exist is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Stores `body` unless `key` exists: the atomic step behind deduplication and idempotency.
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<ObjectInfo, StoreError> {
        self.put(key, body, PutOptions::if_absent()).await
    }

    /// A URL a client can PUT `key`'s bytes to, with `content_type`, until `expires_in` passes.
    /// S3 signs one; a directory only when it is given an [`UploadSigner`] (`seams up`).
    async fn presign_put(&self, key: &str, content_type: &str, expires_in: Duration) -> Result<String, StoreError> {
        let _ = (key, content_type, expires_in);
        Err(StoreError::Unsupported(NO_SIGNER))
    }
}

/// Keys are relative, `/`-separated paths without empty, `.` or `..` segments, so they mean
/// the same thing on S3 and on a filesystem and cannot escape a directory.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let invalid = |reason| Err(StoreError::InvalidKey { key: key.to_owned(), reason });
    if key.is_empty() || key.len() > 1024 {
        return invalid("must be 1 to 1024 bytes");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return invalid("must not contain control characters or backslashes");
    }
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return invalid("must be a relative path without empty, '.' or '..' segments");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_or_be_ambiguous() {
        for key in ["", "/abs", "a//b", "a/../b", "..", "a/./b", "a\\b", "a\u{0}b", "trailing/"] {
            assert!(validate_key(key).is_err(), "{key:?} should be refused");
        }
        for key in ["raw/doc-1/sha256-ab.bin", "a", "ledger/x y/ü.json"] {
            assert!(validate_key(key).is_ok(), "{key:?} should be accepted");
        }
    }
}
