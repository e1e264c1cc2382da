//! AWS clients, built once at init from one `aws_config` load.

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};

use crate::config::Env;

/// Where the SDK sends requests. `AWS_ENDPOINT_URL` points every client at one endpoint
/// (a local stand-in such as moto); S3 then usually needs path-style addressing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub s3_force_path_style: bool,
}

impl AwsSettings {
    pub fn from_env(env: &Env) -> Self {
        let endpoint_url = env.optional("AWS_ENDPOINT_URL");
        if let Some(url) = &endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                env.invalid("AWS_ENDPOINT_URL", url, "expected an http:// or https:// URL".into());
            }
        }
        Self {
            endpoint_url,
            region: env.optional("AWS_REGION"),
            s3_force_path_style: env.flag("SEAMS_S3_FORCE_PATH_STYLE", false),
        }
    }

    /// The loader with these settings applied; credentials come from the default chain
    /// unless the caller adds its own.
    pub fn loader(&self) -> ConfigLoader {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        loader
    }

    pub async fn load(&self) -> SdkConfig {
        self.loader().load().await
    }

    pub fn s3(&self, sdk: &SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(self.s3_force_path_style).build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

pub fn eventbridge(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(sdk)
}

/// The HTTP status of an SDK error's response, when there was one.
pub(crate) fn status_of<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> Option<u16>
where
    R: HasStatus,
{
    error.raw_response().map(HasStatus::status)
}

pub(crate) trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Whether an SDK error is worth retrying: no response at all (timeout, connection), a
/// throttle or a server error.
pub(crate) fn is_transient<E, R: HasStatus>(error: &aws_sdk_s3::error::SdkError<E, R>) -> bool {
    use aws_sdk_s3::error::SdkError;
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        _ => matches!(status_of(error), Some(429) | Some(500..=599)),
    }
}

/// The SDK's Display is terse ("service error"); the source chain says what happened.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_REGION", "eu-west-1"),
            ("SEAMS_S3_FORCE_PATH_STYLE", "true"),
        ]);
        let settings = AwsSettings::from_env(&env);
        assert!(env.finish().is_ok());
        assert_eq!(settings.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(settings.region.as_deref(), Some("eu-west-1"));
        assert!(settings.s3_force_path_style);
    }

    #[test]
    fn a_malformed_endpoint_is_reported_by_name() {
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "localhost:5000")]);
        AwsSettings::from_env(&env);
        let text = env.finish().unwrap_err().to_string();
        assert!(text.contains("AWS_ENDPOINT_URL=\"localhost:5000\" is not valid"), "{text}");
    }
}
