//! Secrets Manager: a function reads its secrets once, at init, by name or ARN. Values are
//! never logged; errors name the secret, not its content.

use crate::ServiceError;

/// The secret's string value. An unreachable or denied Secrets Manager is `Transient` (the
/// function's init fails and Lambda retries it); a secret without a string is `InvalidInput`.
pub async fn secret_string(sdk: &aws_config::SdkConfig, secret_id: &str) -> Result<String, ServiceError> {
    let answer =
        aws_sdk_secretsmanager::Client::new(sdk).get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
            ServiceError::transient(format!(
                "secret {secret_id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    answer
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::invalid_input("secret", format!("secret {secret_id} has no string value")))
}
