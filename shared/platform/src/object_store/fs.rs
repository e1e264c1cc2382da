use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{
    validate_key, Object, ObjectInfo, ObjectStore, PutCondition, PutOptions, StoreError, UploadSigner, NO_SIGNER,
};

/// A directory standing in for a bucket, for `seams` on one machine.
///
/// Writes go to a temporary file that is then renamed (or hard-linked, for `IfAbsent`) into
/// place, so readers never see half an object and two `IfAbsent` writers cannot both win.
/// `IfMatch` is atomic within one process (the local runner is one process).
pub struct FsObjectStore {
    root: PathBuf,
    location: String,
    if_match_lock: Mutex<()>,
    /// Set when a server (`seams up`) serves signed uploads into this directory.
    upload_signer: Option<Arc<UploadSigner>>,
}

/// Temporary files start with this; `list` skips them.
const TEMP_PREFIX: &str = ".seams-tmp-";

impl FsObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let location = root.display().to_string();
        Self { root, location, if_match_lock: Mutex::new(()), upload_signer: None }
    }

    /// Lets [`ObjectStore::presign_put`] hand out URLs that `signer`'s server accepts.
    pub fn with_upload_signer(mut self, signer: Arc<UploadSigner>) -> Self {
        self.upload_signer = Some(signer);
        self
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    async fn write_temp(&self, path: &Path, body: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = path.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(dir).await.map_err(|e| match e.kind() {
            // An object where the key needs a directory: `a` stored, `a/b` asked for.
            ErrorKind::AlreadyExists => StoreError::Refused(e.to_string()),
            _ => io_error(e),
        })?;
        let temp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&temp, body).await.map_err(io_error)?;
        Ok(temp)
    }

    async fn put_atomic(&self, key: &str, path: &Path, body: &[u8], if_absent: bool) -> Result<(), StoreError> {
        let temp = self.write_temp(path, body).await?;
        let placed = if if_absent {
            // link(2) fails if the target exists: the atomic create-if-absent.
            let linked = tokio::fs::hard_link(&temp, path).await;
            let _ = tokio::fs::remove_file(&temp).await;
            linked
        } else {
            tokio::fs::rename(&temp, path).await
        };
        placed.map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => StoreError::AlreadyExists { key: key.to_owned() },
            _ => io_error(e),
        })
    }
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// The objects under `start` whose keys begin with `prefix`, in key order.
fn walk(root: &Path, start: PathBuf, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
    let mut objects = Vec::new();
    let mut pending = vec![start];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error)?;
            let path = entry.path();
            if entry.file_type().map_err(io_error)?.is_dir() {
                pending.push(path);
                continue;
            }
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let key = relative.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
            if key.starts_with(prefix) {
                // A file removed since the directory was read is not listed.
                match entry.metadata() {
                    Ok(metadata) => objects.push(ObjectInfo { key, size: metadata.len(), etag: None }),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(e)),
                }
            }
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

/// Only what may pass is transient. A key a directory cannot hold, though S3 could (a
/// segment over 255 bytes, or `a/b` beside an object `a`), fails the same way every time:
/// retried, a delivery slept through its backoff for seconds before its dead letter.
fn io_error(error: std::io::Error) -> StoreError {
    match error.kind() {
        ErrorKind::PermissionDenied
        | ErrorKind::InvalidFilename
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory => StoreError::Refused(error.to_string()),
        _ => StoreError::Transient(error.to_string()),
    }
}

fn not_found_or(key: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| match error.kind() {
        ErrorKind::NotFound => StoreError::NotFound { key: key.to_owned() },
        _ => io_error(error),
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    fn location(&self) -> &str {
        &self.location
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<ObjectInfo, StoreError> {
        let path = self.path(key)?;
        match &options.condition {
            PutCondition::Always => self.put_atomic(key, &path, &body, false).await?,
            PutCondition::IfAbsent => self.put_atomic(key, &path, &body, true).await?,
            PutCondition::IfMatch(expected) => {
                let _guard = self.if_match_lock.lock().await;
                let current = match tokio::fs::read(&path).await {
                    Ok(current) => Some(etag_of(&current)),
                    Err(e) if e.kind() == ErrorKind::NotFound => None,
                    Err(e) => return Err(io_error(e)),
                };
                if current.as_deref() != Some(expected.as_str()) {
                    return Err(StoreError::PreconditionFailed { key: key.to_owned() });
                }
                self.put_atomic(key, &path, &body, false).await?;
            }
        }
        Ok(ObjectInfo { key: key.to_owned(), size: body.len() as u64, etag: Some(etag_of(&body)) })
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let body = tokio::fs::read(self.path(key)?).await.map_err(not_found_or(key))?;
        let info = ObjectInfo { key: key.to_owned(), size: body.len() as u64, etag: Some(etag_of(&body)) };
        Ok(Object { info, body: Bytes::from(body) })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        Ok(self.get(key).await?.info)
    }

    async fn presign_put(&self, key: &str, content_type: &str, expires_in: Duration) -> Result<String, StoreError> {
        let Some(signer) = &self.upload_signer else {
            return Err(StoreError::Unsupported(NO_SIGNER));
        };
        let expires_at =
            chrono::Utc::now().timestamp().saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX));
        signer.url(key, content_type, expires_at)
    }

    /// Walks only the directory the prefix names (`docs/a` walks `docs/`). ETags are left
    /// out: computing them would read every object listed.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let start = match prefix.rsplit_once('/') {
            Some((dir, _)) if validate_key(dir).is_ok() => self.root.join(dir),
            _ => self.root.clone(),
        };
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        // One blocking task for the whole walk: tokio::fs would hand every entry's metadata
        // to the blocking pool and back, which dominated listing a few thousand objects.
        tokio::task::spawn_blocking(move || walk(&root, start, &prefix))
            .await
            .map_err(|e| StoreError::Transient(format!("listing stopped: {e}")))?
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_error(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_the_directory_cannot_hold_is_refused_not_transient() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(dir.path());
        store.put("a", Bytes::from_static(b"x"), PutOptions::default()).await.unwrap();
        let long_segment = format!("answers/{}", "W".repeat(300));
        for key in [long_segment.as_str(), "a/b"] {
            let refused = store.put(key, Bytes::from_static(b"x"), PutOptions::default()).await;
            assert!(matches!(refused, Err(StoreError::Refused(_))), "{key}: {refused:?}");
        }
    }
}
