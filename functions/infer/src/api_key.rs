//! The provider's API key as each call reads it: a value from the environment, or a Secrets
//! Manager secret kept for `SEAMS_SECRET_TTL_SECONDS`, so a rotated key applies without a
//! cold start.

use std::sync::Arc;

use seams_platform::secrets::SecretCache;
use seams_platform::ServiceError;

use crate::provider::ProviderError;

#[derive(Clone)]
pub enum KeySource {
    Fixed(String),
    Secret { cache: Arc<SecretCache>, secret_id: String },
}

impl KeySource {
    /// The key now. A secret that cannot be read is the provider being unavailable (retried).
    pub async fn key(&self) -> Result<String, ProviderError> {
        self.read().await.map_err(|e| ProviderError::Unavailable(format!("api key: {e}")))
    }

    /// Reads it once, so a deployment with a wrong secret fails at init rather than at the
    /// first question.
    pub async fn check(&self) -> Result<(), ServiceError> {
        self.read().await.map(drop)
    }

    async fn read(&self) -> Result<String, ServiceError> {
        match self {
            KeySource::Fixed(key) => Ok(key.clone()),
            KeySource::Secret { cache, secret_id } => cache.get(secret_id).await,
        }
    }
}

impl From<&str> for KeySource {
    fn from(key: &str) -> Self {
        KeySource::Fixed(key.to_owned())
    }
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Fixed(_) => f.write_str("Fixed(<hidden>)"),
            KeySource::Secret { secret_id, .. } => write!(f, "Secret({secret_id})"),
        }
    }
}
