//! A fault-injecting HTTP proxy for the test stack: it stands between AWS SDK clients and
//! moto and answers a set share of requests with a fault instead of moto's answer. Half the
//! faults strike before moto sees the request, half after moto has acted on it (the answer
//! is lost on the way back), so a retry repeats work that was already done: the case that
//! makes duplicates.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::config::Credentials;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use seams_platform::aws::AwsSettings;

/// The faults, in the order they are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// The service's own throttling error: `ThrottlingException` (JSON APIs) or S3's `SlowDown`.
    Throttled,
    /// The connection closes in the middle of the answer.
    Reset,
    /// The answer comes after the client's attempt timeout.
    Delayed,
}

const FAULTS: [Fault; 5] = [Fault::ServerError, Fault::Unavailable, Fault::Throttled, Fault::Reset, Fault::Delayed];

/// How many requests passed through and how many of each fault were injected.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub faults: [AtomicU64; 5],
    /// Faults injected after moto acted on the request.
    pub after_moto: AtomicU64,
}

struct Proxy {
    upstream: String,
    share: f64,
    delay: Duration,
    random: Mutex<StdRng>,
    client: reqwest::Client,
    counts: Arc<Counts>,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    pub counts: Arc<Counts>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// Proxies to `upstream`, faulting `share` (0 to 1) of requests, drawn from `seed`. A
    /// delayed answer waits `delay`, which should exceed the clients' attempt timeout.
    pub async fn start(upstream: &str, share: f64, delay: Duration, seed: u64) -> FaultProxy {
        let counts = Arc::new(Counts::default());
        let proxy = Arc::new(Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            share,
            delay,
            random: Mutex::new(StdRng::seed_from_u64(seed)),
            client: reqwest::Client::builder().no_proxy().build().expect("a plain HTTP client"),
            counts: counts.clone(),
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().expect("a bound port"));
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { endpoint, counts, server }
    }

    /// SDK settings and config whose calls to `moto` pass through this proxy, each attempt
    /// given up after `attempt_timeout`.
    pub async fn sdk(&self, moto: &crate::stack::Moto, attempt_timeout: Duration) -> (AwsSettings, SdkConfig) {
        let settings =
            AwsSettings { endpoint_url: Some(self.endpoint.clone()), attempt_timeout, ..moto.settings.clone() };
        let credentials = Credentials::new("testing", "testing", None, None, "seams-tests");
        let sdk = settings.loader().credentials_provider(credentials).load().await;
        (settings, sdk)
    }

    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::Relaxed)
    }

    /// Faults injected, of every kind.
    pub fn injected(&self) -> u64 {
        self.counts.faults.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    pub fn faults(&self) -> Vec<(Fault, u64)> {
        FAULTS.iter().zip(&self.counts.faults).map(|(fault, n)| (*fault, n.load(Ordering::Relaxed))).collect()
    }
}

impl Proxy {
    /// The fault for the next request, if any, and whether it strikes after moto.
    fn draw(&self) -> Option<(Fault, bool)> {
        let mut random = self.random.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !random.random_bool(self.share) {
            return None;
        }
        let index = random.random_range(0..FAULTS.len());
        self.counts.faults[index].fetch_add(1, Ordering::Relaxed);
        Some((FAULTS[index], random.random_bool(0.5)))
    }

    async fn upstream(&self, method: reqwest::Method, uri: &str, headers: &HeaderMap, body: bytes::Bytes) -> Response {
        let mut request = self.client.request(method, format!("{}{uri}", self.upstream)).body(body);
        for (name, value) in headers {
            if name != "host" {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        match request.send().await {
            Ok(answer) => {
                let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let mut response = Response::builder().status(status);
                for (name, value) in answer.headers() {
                    if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                        response = response.header(name.as_str(), value.as_bytes());
                    }
                }
                let body = answer.bytes().await.unwrap_or_default();
                response.body(Body::from(body)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
            }
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        }
    }
}

/// The fault's answer, as the real service would give it.
fn faulted(fault: Fault, json_api: bool) -> Response {
    match fault {
        Fault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "injected fault").into_response(),
        Fault::Unavailable | Fault::Delayed => (StatusCode::SERVICE_UNAVAILABLE, "injected fault").into_response(),
        Fault::Throttled if json_api => (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0"), ("x-amzn-query-error", "ThrottlingException;Sender")],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded (injected)"}"#,
        )
            .into_response(),
        Fault::Throttled => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/xml")],
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate (injected).</Message></Error>",
        )
            .into_response(),
        Fault::Reset => {
            // Headers, then a broken body: the client loses the connection mid-answer.
            let broken =
                futures::stream::once(async { Err::<bytes::Bytes, _>(std::io::Error::other("injected reset")) });
            Response::builder()
                .status(StatusCode::OK)
                .body(Body::from_stream(broken))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
    }
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    proxy.counts.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let uri = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let json_api = parts.headers.contains_key("x-amz-target");
    let fault = proxy.draw();
    if let Some((Fault::Delayed, _)) = fault {
        tokio::time::sleep(proxy.delay).await;
    }
    match fault {
        None => proxy.upstream(method, &uri, &parts.headers, body).await,
        Some((fault, true)) => {
            proxy.counts.after_moto.fetch_add(1, Ordering::Relaxed);
            let _acted = proxy.upstream(method, &uri, &parts.headers, body).await;
            faulted(fault, json_api)
        }
        Some((fault, false)) => faulted(fault, json_api),
    }
}
