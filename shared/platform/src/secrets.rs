//! Secrets Manager: values read by name or ARN and kept for a time-to-live
//! (`SEAMS_SECRET_TTL_SECONDS`, default 300), so a rotated secret applies within that time,
//! without a cold start. Values are never logged; errors name the secret, not its content.

#[cfg(feature = "aws")]
mod secrets_manager;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use seams_contracts::ErrorName;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::aws::SdkConfig;
use crate::config::Env;
use crate::ServiceError;

#[cfg(feature = "aws")]
pub use secrets_manager::{secret_string, SecretsManagerSource};

/// How long a value is kept unless `SEAMS_SECRET_TTL_SECONDS` says otherwise (Powertools'
/// parameters default too).
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Where secret values come from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's current string value, trimmed.
    async fn fetch(&self, secret_id: &str) -> Result<String, ServiceError>;
}

/// Without the `aws` feature there is no Secrets Manager: every read is refused.
#[cfg(not(feature = "aws"))]
struct LeftOut;

#[cfg(not(feature = "aws"))]
#[async_trait]
impl SecretSource for LeftOut {
    async fn fetch(&self, secret_id: &str) -> Result<String, ServiceError> {
        Err(crate::aws::left_out(&format!("secret {secret_id} (Secrets Manager)")))
    }
}

struct Kept {
    value: String,
    fetched: Instant,
}

/// Values kept for a time-to-live. After it, the next read fetches again; if that fetch fails
/// for a passing reason, the kept value is used (and the failure logged) rather than failing
/// the request, since a secret is rotated far less often than Secrets Manager hiccups.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    ttl: Duration,
    kept: Mutex<HashMap<String, Kept>>,
}

impl SecretCache {
    /// `ttl` zero reads the source every time.
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        Self { source, ttl, kept: Mutex::new(HashMap::new()) }
    }

    /// Secrets Manager's values, kept for `ttl` (`ttl_from_env`).
    #[cfg(feature = "aws")]
    pub fn secrets_manager(sdk: &SdkConfig, ttl: Duration) -> Self {
        Self::new(Arc::new(SecretsManagerSource::new(sdk)), ttl)
    }

    /// Secrets Manager's values in a build that leaves AWS out: each read is refused.
    #[cfg(not(feature = "aws"))]
    pub fn secrets_manager(_sdk: &SdkConfig, ttl: Duration) -> Self {
        Self::new(Arc::new(LeftOut), ttl)
    }

    pub async fn get(&self, secret_id: &str) -> Result<String, ServiceError> {
        let stale = match self.kept.lock().await.get(secret_id) {
            Some(kept) if kept.fetched.elapsed() < self.ttl => return Ok(kept.value.clone()),
            Some(kept) => Some(kept.value.clone()),
            None => None,
        };
        match self.source.fetch(secret_id).await {
            Ok(value) => {
                let kept = Kept { value: value.clone(), fetched: Instant::now() };
                self.kept.lock().await.insert(secret_id.to_owned(), kept);
                Ok(value)
            }
            Err(error) => match stale {
                Some(value) if error.name == ErrorName::Transient => {
                    tracing::warn!(secret = secret_id, %error, "secret not refreshed; using the value read before");
                    Ok(value)
                }
                _ => Err(error),
            },
        }
    }
}

/// `SEAMS_SECRET_TTL_SECONDS`, default 300.
pub fn ttl_from_env(env: &Env) -> Duration {
    Duration::from_secs(env.parse_or("SEAMS_SECRET_TTL_SECONDS", DEFAULT_TTL.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A secret whose value is its version, with a switch to make it unreachable.
    #[derive(Default)]
    struct Rotating {
        version: AtomicUsize,
        fetches: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
        missing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl SecretSource for Rotating {
        async fn fetch(&self, secret_id: &str) -> Result<String, ServiceError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(ServiceError::transient("secrets manager unreachable"));
            }
            if self.missing.load(Ordering::SeqCst) {
                return Err(ServiceError::invalid_input("secret", format!("secret {secret_id} has no string value")));
            }
            Ok(format!("{secret_id}-v{}", self.version.load(Ordering::SeqCst)))
        }
    }

    fn cache(ttl: u64) -> (Arc<Rotating>, SecretCache) {
        let source = Arc::new(Rotating::default());
        (source.clone(), SecretCache::new(source, Duration::from_secs(ttl)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotated_secret_applies_once_the_ttl_has_passed() {
        let (source, cache) = cache(300);
        assert_eq!(cache.get("key").await.unwrap(), "key-v0");
        source.version.store(1, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(cache.get("key").await.unwrap(), "key-v0", "kept within the TTL");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.get("key").await.unwrap(), "key-v1", "read again after it");
        assert_eq!(cache.get("key").await.unwrap(), "key-v1");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn each_secret_is_kept_on_its_own() {
        let (source, cache) = cache(300);
        assert_eq!(cache.get("a").await.unwrap(), "a-v0");
        assert_eq!(cache.get("b").await.unwrap(), "b-v0");
        assert_eq!(cache.get("a").await.unwrap(), "a-v0");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_reads_every_time() {
        let (source, cache) = cache(0);
        cache.get("key").await.unwrap();
        source.version.store(7, Ordering::SeqCst);
        assert_eq!(cache.get("key").await.unwrap(), "key-v7");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_source_after_the_ttl_serves_the_value_read_before() {
        let (source, cache) = cache(300);
        cache.get("key").await.unwrap();
        source.down.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(cache.get("key").await.unwrap(), "key-v0");
        // Never read: nothing to fall back on.
        assert_eq!(cache.get("other").await.unwrap_err().name, ErrorName::Transient);
    }

    #[tokio::test(start_paused = true)]
    async fn a_secret_that_lost_its_value_is_an_error_not_the_old_value() {
        let (source, cache) = cache(300);
        cache.get("key").await.unwrap();
        source.missing.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(cache.get("key").await.unwrap_err().name, ErrorName::InvalidInput);
    }

    #[test]
    fn the_ttl_comes_from_the_environment() {
        assert_eq!(ttl_from_env(&Env::from_pairs([("SEAMS_SECRET_TTL_SECONDS", "60")])), Duration::from_secs(60));
        assert_eq!(ttl_from_env(&Env::from_pairs::<&str, &str>([])), DEFAULT_TTL);
    }
}
