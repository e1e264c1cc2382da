//! X-Ray subsegments around every downstream call, so a function's trace shows where its time
//! went. With `Tracing: Active`, Lambda starts the invocation's segment and runs the X-Ray
//! daemon beside the function. Each call made during the invocation goes to that daemon
//! (`AWS_XRAY_DAEMON_ADDRESS`, UDP) as a subsegment of the segment `_X_AMZN_TRACE_ID` names.
//!
//! AWS calls are timed by [`Subsegments`], an SDK interceptor every client is built with;
//! other HTTP calls (webhooks, model providers) by [`record`]. Nothing is sent outside an
//! invocation, for an unsampled trace, or without a daemon address (tests, `seams up`).
//! Sending is one non-blocking UDP datagram: a lost subsegment never slows or fails a call.

#[cfg(feature = "aws")]
mod subsegments;

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

#[cfg(feature = "aws")]
pub use subsegments::Subsegments;

/// The parts of a trace header (`Root=1-…;Parent=…;Sampled=1`) a subsegment needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: String,
    pub sampled: bool,
}

impl TraceHeader {
    /// `None` without a root or a parent: there is no segment to hang a subsegment on.
    pub fn parse(header: &str) -> Option<Self> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for part in header.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", value)) => root = Some(value.to_owned()),
                Some(("Parent", value)) => parent = Some(value.to_owned()),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        Some(Self { root: root?, parent: parent?, sampled })
    }
}

/// One downstream call, as X-Ray shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The service called: an AWS service's id (`S3`), or a remote name (`webhook`).
    pub name: String,
    /// An AWS call's operation (`PutObject`), or an HTTP method.
    pub operation: String,
    pub aws: bool,
    pub start: SystemTime,
    pub end: SystemTime,
    /// The answer's HTTP status; `None` when no answer came (timeout, connection refused).
    pub status: Option<u16>,
}

impl Call {
    /// An HTTP call to a host outside AWS that started at `start` and ends now.
    pub fn remote(host: &str, method: &str, start: SystemTime, status: Option<u16>) -> Self {
        Self { name: host.to_owned(), operation: method.to_owned(), aws: false, start, end: SystemTime::now(), status }
    }

    /// The subsegment document X-Ray's daemon takes, under `trace`, with the id `id`.
    pub fn document(&self, trace: &TraceHeader, id: &str) -> Value {
        let seconds = |at: SystemTime| at.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        let mut document = json!({
            "name": self.name,
            "id": id,
            "trace_id": trace.root,
            "parent_id": trace.parent,
            "type": "subsegment",
            "start_time": seconds(self.start),
            "end_time": seconds(self.end),
        });
        if self.aws {
            document["namespace"] = json!("aws");
            document["aws"] = json!({"operation": self.operation});
        } else {
            document["namespace"] = json!("remote");
            document["http"] = json!({"request": {"method": self.operation}});
        }
        // X-Ray's flags: error for 4xx (throttle for 429), fault for 5xx or no answer.
        match self.status {
            Some(status) => {
                document["http"]["response"] = json!({"status": status});
                match status {
                    429 => (document["error"], document["throttle"]) = (json!(true), json!(true)),
                    400..=499 => document["error"] = json!(true),
                    500.. => document["fault"] = json!(true),
                    _ => {}
                }
            }
            None => document["fault"] = json!(true),
        }
        document
    }
}

/// Where subsegments go: the X-Ray daemon.
#[derive(Debug)]
pub struct Daemon {
    socket: UdpSocket,
    address: SocketAddr,
}

impl Daemon {
    /// `AWS_XRAY_DAEMON_ADDRESS` as Lambda sets it: `host:port`, or `udp:host:port tcp:host:port`.
    pub fn at(address: &str) -> Option<Self> {
        let udp = address.split_whitespace().find_map(|part| part.strip_prefix("udp:"));
        let address = udp.or_else(|| address.split_whitespace().find(|part| !part.contains("tcp:")))?;
        let address = address.to_socket_addrs().ok()?.next()?;
        let socket = UdpSocket::bind(if address.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).ok()?;
        socket.set_nonblocking(true).ok()?;
        Some(Self { socket, address })
    }

    /// The daemon of this process's environment, looked up once.
    pub fn from_env() -> Option<Arc<Self>> {
        static DAEMON: OnceLock<Option<Arc<Daemon>>> = OnceLock::new();
        DAEMON
            .get_or_init(|| std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok().and_then(|a| Daemon::at(&a)).map(Arc::new))
            .clone()
    }

    /// Sends `call` under the current invocation's trace, if it is sampled.
    pub fn send(&self, call: &Call) {
        let Some(trace) = crate::logging::trace_header().as_deref().and_then(TraceHeader::parse) else { return };
        if !trace.sampled {
            return;
        }
        let id = &uuid::Uuid::new_v4().simple().to_string()[..16];
        let packet = format!("{{\"format\":\"json\",\"version\":1}}\n{}", call.document(&trace, id));
        // Best effort, as every X-Ray SDK sends: the daemon may be busy or absent.
        let _ = self.socket.send_to(packet.as_bytes(), self.address);
    }
}

/// Sends `call` to this process's daemon (a non-AWS call: webhooks, model providers).
pub fn record(call: &Call) {
    if let Some(daemon) = Daemon::from_env() {
        daemon.send(call);
    }
}

/// Sends `request` and records it as a subsegment named after its host: the HTTP calls seams
/// makes outside the AWS SDK (webhooks, Slack, OpenAI-compatible providers).
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = request.build_split();
    let request = request?;
    let (host, method) = (request.url().host_str().unwrap_or_default().to_owned(), request.method().to_string());
    let start = SystemTime::now();
    let sent = client.execute(request).await;
    record(&Call::remote(&host, &method, start, sent.as_ref().ok().map(|r| r.status().as_u16())));
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn a_trace_header_gives_its_root_parent_and_sampling() {
        let trace = TraceHeader::parse(HEADER).unwrap();
        assert_eq!(trace.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!((trace.parent.as_str(), trace.sampled), ("53995c3f42cd8ad8", true));
        assert!(!TraceHeader::parse("Root=1-a-b;Parent=c;Sampled=0").unwrap().sampled);
        assert_eq!(TraceHeader::parse("Root=1-a-b;Sampled=1"), None, "no parent, no subsegment");
    }

    #[test]
    fn a_call_becomes_a_subsegment_of_the_invocation_with_x_rays_flags() {
        let trace = TraceHeader::parse(HEADER).unwrap();
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let call = |status| Call {
            name: "S3".into(),
            operation: "PutObject".into(),
            aws: true,
            start,
            end: start + Duration::from_millis(30),
            status,
        };
        let document = call(Some(200)).document(&trace, "70de5b6f19ff9a0a");
        assert_eq!(document["trace_id"], trace.root.as_str());
        assert_eq!(document["parent_id"], "53995c3f42cd8ad8");
        assert_eq!((document["type"].as_str(), document["namespace"].as_str()), (Some("subsegment"), Some("aws")));
        assert_eq!(document["aws"]["operation"], "PutObject");
        assert_eq!(document["start_time"], 1_700_000_000.25);
        assert_eq!(document["end_time"], 1_700_000_000.28);
        assert_eq!(document["http"]["response"]["status"], 200);
        let flags = |status| {
            let d = call(status).document(&trace, "70de5b6f19ff9a0a");
            [d["error"].as_bool(), d["throttle"].as_bool(), d["fault"].as_bool()].map(|f| f.unwrap_or(false))
        };
        assert_eq!(flags(Some(200)), [false, false, false]);
        assert_eq!(flags(Some(404)), [true, false, false]);
        assert_eq!(flags(Some(429)), [true, true, false]);
        assert_eq!(flags(Some(503)), [false, false, true]);
        assert_eq!(flags(None), [false, false, true], "no answer is a fault");
    }

    #[test]
    fn the_daemon_address_is_read_as_lambda_writes_it() {
        assert_eq!(Daemon::at("127.0.0.1:2000").unwrap().address, "127.0.0.1:2000".parse().unwrap());
        let both = Daemon::at("tcp:127.0.0.1:2001 udp:127.0.0.1:2002").unwrap();
        assert_eq!(both.address, "127.0.0.1:2002".parse().unwrap());
        assert!(Daemon::at("not an address").is_none());
    }
}
