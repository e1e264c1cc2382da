//! AWS Secrets Manager as a [`SecretSource`].

use async_trait::async_trait;

use super::SecretSource;
use crate::aws::SdkConfig;
use crate::ServiceError;

/// AWS Secrets Manager. Its client is built on the first read, not at init: a function whose
/// configuration names no secret never pays for it at a cold start.
pub struct SecretsManagerSource {
    sdk: SdkConfig,
    client: std::sync::OnceLock<aws_sdk_secretsmanager::Client>,
}

impl SecretsManagerSource {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self { sdk: sdk.clone(), client: std::sync::OnceLock::new() }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    /// An unreachable or denied Secrets Manager is `Transient`; a secret without a string is
    /// `InvalidInput`.
    async fn fetch(&self, secret_id: &str) -> Result<String, ServiceError> {
        let client = self.client.get_or_init(|| {
            let config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk)
                .interceptor(crate::xray::Subsegments::from_env())
                .build();
            aws_sdk_secretsmanager::Client::from_conf(config)
        });
        let answer = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
            ServiceError::transient(format!(
                "secret {secret_id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
        answer
            .secret_string()
            .map(|value| value.trim().to_owned())
            .ok_or_else(|| ServiceError::invalid_input("secret", format!("secret {secret_id} has no string value")))
    }
}

/// A secret's value read once, for callers that hold what it opens (a database connection).
pub async fn secret_string(sdk: &SdkConfig, secret_id: &str) -> Result<String, ServiceError> {
    SecretsManagerSource::new(sdk).fetch(secret_id).await
}
