//! The SDK's clients, over the settings in [`super::AwsSettings`].

use std::time::Duration;

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{proxy::ProxyConfig, Builder, ConnectorBuilder};
use base64::Engine;

use super::{AwsSettings, TlsRoots};
use crate::xray::Subsegments;

/// A connection not made by then will not be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl AwsSettings {
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
        if self.tls_roots == TlsRoots::Bundled {
            loader = loader.http_client(https_client_with_bundled_roots());
        }
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(self.attempt_timeout))
            .operation_attempt_timeout(self.attempt_timeout)
            .build();
        loader.timeout_config(timeouts)
    }

    pub async fn load(&self) -> SdkConfig {
        self.loader().load().await
    }

    pub fn s3(&self, sdk: &SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(self.s3_force_path_style)
            .interceptor(Subsegments::from_env())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// The SDK's default HTTPS client (rustls with aws-lc, proxies from the environment as the
/// SDK's latest behaviour reads them) trusting only the compiled-in Mozilla roots.
fn https_client_with_bundled_roots() -> SharedHttpClient {
    let trust_store = TrustStore::empty().with_native_roots(false).with_pem_certificate(bundled_roots_pem());
    let context = TlsContext::builder().with_trust_store(trust_store);
    // `build` cannot fail: it only moves the fields (aws-smithy-http-client 1.5).
    let context = context.build().unwrap_or_default();
    Builder::new().build_with_connector_fn(move |settings, runtime_components| {
        // The SDK also calls this without settings when each client is built, only to warm a
        // connector it then drops (so native roots load at init). Compiled-in roots need no
        // warming: that call gets a plain connector, and the roots are parsed once, for the
        // connector requests use (a test checks that requests still speak TLS).
        let Some(settings) = settings else {
            return ConnectorBuilder::default().build_http();
        };
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(Some(settings.clone()));
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Mozilla's roots as one PEM bundle: the form the SDK's trust store takes.
fn bundled_roots_pem() -> Vec<u8> {
    let mut pem = Vec::new();
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let body = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// The configuration for builders whose configured choices call no AWS service: nothing loaded.
pub fn empty_config() -> SdkConfig {
    SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build()
}

pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(sdk).interceptor(Subsegments::from_env()).build())
}

pub fn eventbridge(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::config::Builder::from(sdk).interceptor(Subsegments::from_env()).build();
    aws_sdk_eventbridge::Client::from_conf(config)
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
pub(crate) fn is_transient<E, R: HasStatus>(error: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        // JSON APIs (SQS, EventBridge) throttle with a 400 and a code, not a 429.
        _ if error.code().is_some_and(|code| THROTTLING_CODES.contains(&code)) => true,
        _ => matches!(status_of(error), Some(429) | Some(500..=599)),
    }
}

/// The error codes AWS services throttle with (as the SDK's own retry classifier knows them).
const THROTTLING_CODES: [&str; 12] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
];

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_ATTEMPT_TIMEOUT;
    use super::*;

    #[test]
    fn a_throttle_is_transient_whatever_its_status() {
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::error::{ErrorMetadata, SdkError};
        use aws_sdk_s3::primitives::SdkBody;
        use aws_sdk_sqs::operation::send_message::SendMessageError;
        let answer = |status: u16, code: &str| {
            let error = SendMessageError::generic(ErrorMetadata::builder().code(code).build());
            let response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
            is_transient(&SdkError::service_error(error, response))
        };
        // SQS and EventBridge throttle with a 400; S3 with a 503.
        assert!(answer(400, "ThrottlingException") && answer(400, "RequestThrottled") && answer(503, "SlowDown"));
        assert!(answer(500, "InternalError") && answer(429, "TooManyRequests"));
        assert!(!answer(400, "InvalidParameterValue") && !answer(403, "AccessDenied"));
    }

    /// Requests to an https endpoint open with a TLS handshake record, not plain HTTP.
    #[tokio::test]
    async fn requests_over_https_speak_tls_with_the_bundled_roots() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let settings = AwsSettings {
            endpoint_url: Some(format!("https://{}", listener.local_addr().unwrap())),
            region: Some("us-east-1".into()),
            s3_force_path_style: true,
            tls_roots: TlsRoots::Bundled,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        };
        let credentials = aws_sdk_s3::config::Credentials::new("a", "b", None, None, "test");
        let sdk = settings.loader().credentials_provider(credentials).load().await;
        let s3 = settings.s3(&sdk);
        let request = tokio::spawn(async move { s3.list_buckets().send().await });
        let accepted = tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept()).await;
        let (mut socket, _) = accepted.expect("the client connects").unwrap();
        let mut record = [0u8; 3];
        socket.read_exact(&mut record).await.unwrap();
        assert_eq!(record, [0x16, 0x03, 0x01], "a TLS handshake record (plain HTTP would start with a method)");
        drop((socket, listener));
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), request).await.unwrap().unwrap();
        assert!(outcome.is_err(), "nothing answered the handshake");
    }

    #[test]
    fn the_bundled_pem_holds_every_mozilla_root_unchanged() {
        let pem = String::from_utf8(bundled_roots_pem()).unwrap();
        let decoded: Vec<Vec<u8>> = pem
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|block| {
                let body: String = block.trim_end().trim_end_matches("-----END CERTIFICATE-----").lines().collect();
                base64::engine::general_purpose::STANDARD.decode(body).unwrap()
            })
            .collect();
        let expected: Vec<Vec<u8>> =
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| c.as_ref().to_vec()).collect();
        assert!(expected.len() > 100, "{}", expected.len());
        assert_eq!(decoded, expected);
    }
}
