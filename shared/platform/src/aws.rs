//! Where AWS calls go (settings from the environment), and the clients, built once at init
//! from one `aws_config` load. The clients need the `aws` feature: the deployed functions have
//! it; the local binary leaves the SDK out (decision 2) and refuses a choice that needs AWS.

#[cfg(feature = "aws")]
mod clients;

use std::time::Duration;

use seams_contracts::ErrorName;

use crate::config::Env;
use crate::ServiceError;

#[cfg(feature = "aws")]
pub use aws_config::SdkConfig;
#[cfg(feature = "aws")]
pub use clients::{empty_config, eventbridge, sqs};
#[cfg(feature = "aws")]
pub(crate) use clients::{is_transient, status_of, HasStatus};

/// Without the `aws` feature nothing can call AWS: this empty stand-in keeps one signature for
/// the builders that take the SDK's configuration, and the choices that need it refuse.
#[cfg(not(feature = "aws"))]
#[derive(Debug, Clone, Default)]
pub struct SdkConfig;

/// The configuration for builders whose configured choices call no AWS service.
#[cfg(not(feature = "aws"))]
pub fn empty_config() -> SdkConfig {
    SdkConfig
}

/// Where the SDK sends requests. `AWS_ENDPOINT_URL` points every client at one endpoint
/// (a local stand-in such as moto); S3 then usually needs path-style addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub s3_force_path_style: bool,
    pub tls_roots: TlsRoots,
    /// How long one attempt of an AWS call may take before the SDK gives up on it and
    /// retries (`SEAMS_AWS_ATTEMPT_TIMEOUT_SECONDS`): a service that stops answering costs
    /// an attempt, not the whole function timeout.
    pub attempt_timeout: Duration,
}

/// The default for [`AwsSettings::attempt_timeout`]: well above a healthy call, well below
/// the functions' timeouts.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate authorities the SDK's HTTPS client trusts (`SEAMS_TLS_ROOTS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// Mozilla's root program, compiled in (`webpki-root-certs`). Reading the system's store
    /// at every cold start took most of init (a Debian host's directory of 290 files: 15.5 ms
    /// of init against 9.2 ms without it, bench/RESULTS.md).
    #[default]
    Bundled,
    /// The operating system's store (and `SSL_CERT_FILE`/`SSL_CERT_DIR`): for a network whose
    /// TLS-inspecting proxy signs with a private authority.
    System,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: None,
            s3_force_path_style: false,
            tls_roots: TlsRoots::default(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
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
            attempt_timeout: Duration::from_secs(
                env.parse_or("SEAMS_AWS_ATTEMPT_TIMEOUT_SECONDS", DEFAULT_ATTEMPT_TIMEOUT.as_secs()),
            ),
            tls_roots: match env.optional("SEAMS_TLS_ROOTS").as_deref().map(str::trim) {
                None | Some("bundled") => TlsRoots::Bundled,
                Some("system") => TlsRoots::System,
                Some(other) => {
                    env.invalid("SEAMS_TLS_ROOTS", other, "expected bundled or system".into());
                    TlsRoots::Bundled
                }
            },
        }
    }
}

/// The error for a configured choice that needs AWS in a build without the `aws` feature.
pub fn left_out(choice: &str) -> ServiceError {
    ServiceError::new(
        ErrorName::InvalidInput,
        format!("{choice} needs AWS, which this build leaves out: build it with `--features aws`"),
    )
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

    #[test]
    fn tls_roots_are_bundled_unless_the_system_store_is_asked_for() {
        let roots = |value: Option<&str>| {
            let env = Env::from_pairs(value.map(|v| ("SEAMS_TLS_ROOTS", v)));
            let roots = AwsSettings::from_env(&env).tls_roots;
            (roots, env.finish().map_err(|report| report.to_string()))
        };
        assert_eq!(roots(None), (TlsRoots::Bundled, Ok(())));
        assert_eq!(roots(Some("system")), (TlsRoots::System, Ok(())));
        let (_, report) = roots(Some("native"));
        assert!(report.is_err_and(|text| text.contains("SEAMS_TLS_ROOTS") && text.contains("bundled or system")));
    }
}
