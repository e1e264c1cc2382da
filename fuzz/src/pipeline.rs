//! The pipeline's front doors: HTTP requests to every route, and every event each function
//! accepts (SQS, S3, EventBridge, direct and Step Functions invokes), served by the real
//! handlers on the embedded stack (`seams up`'s), in a data directory of their own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use seams::{invoke, InvokeError, LocalStack};
use seams_contracts::Problem;
use seams_platform::proxy::{RouteRequest, RouteResponse};
use seams_platform::queue::{LocalQueue, Queue};
use seams_platform::trigger::TriggerKind;
use serde_json::Value;

/// The only host deliveries may go to, which does not exist.
const FUZZ_HOST: &str = "receiver.seams-fuzz.invalid";

/// Inputs one stack serves before a fresh one, in a new data directory, replaces it, as a
/// Lambda container is recycled. What inputs leave behind (documents and their versions,
/// upload tickets) makes each later input slower: event_ingest fell from 9,000 to 500
/// executions a second as its one directory filled (with a stack per 2,000 inputs it holds
/// near 3,700, 20,000 gave 1,900). And a failure that needed what thousands
/// of earlier inputs left would not replay from its own input.
const INPUTS_PER_STACK: u32 = 2_000;

/// The stack the inputs are served by, replaced every `per_stack` inputs.
struct Pipelines {
    current: Option<(Pipeline, u32)>,
    per_stack: u32,
}

impl Pipelines {
    /// Serves one input with the current stack, first replacing one that has served its share.
    fn serve<R>(&mut self, input: impl FnOnce(&Pipeline) -> R) -> R {
        if self.current.as_ref().is_some_and(|(_, served)| *served >= self.per_stack) {
            // The old stack and its directory go before the new one is built.
            self.current = None;
        }
        let (pipeline, served) = self.current.get_or_insert_with(|| (Pipeline::new(), 0));
        *served += 1;
        input(pipeline)
    }
}

/// Serves one input with the process's stack.
fn with_pipeline<R>(input: impl FnOnce(&Pipeline) -> R) -> R {
    static PIPELINES: Mutex<Pipelines> = Mutex::new(Pipelines { current: None, per_stack: INPUTS_PER_STACK });
    PIPELINES.lock().unwrap_or_else(PoisonError::into_inner).serve(input)
}

/// One embedded stack (`seams up`'s) in a data directory of its own.
struct Pipeline {
    stack: Arc<LocalStack>,
    data_dir: tempfile::TempDir,
}

impl Pipeline {
    /// A harness that cannot start is not an input's fault: it stops the run loudly.
    fn new() -> Pipeline {
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        // `seams up`'s defaults, but no delivery leaves the machine: a fuzzed webhook URL
        // is refused as a deployed output refuses a host off its list.
        let variables = BTreeMap::from([("SEAMS_OUTBOUND_ALLOWED_HOSTS".to_owned(), FUZZ_HOST.to_owned())]);
        let stack = crate::runtime().block_on(LocalStack::configured(data_dir.path(), variables));
        let stack = Arc::new(stack.unwrap_or_else(|e| panic!("the embedded stack: {e}")));
        Pipeline { stack, data_dir }
    }

    fn invoke(&self, function: &str, event: Value) -> Result<Value, InvokeError> {
        crate::runtime().block_on(invoke(&self.stack, function, event))
    }

    fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Deletes what an input left in the stack's queues. Nothing in the harness consumes them,
    /// so they held every input's messages: event_output grew 200 MB per million events
    /// (its dead letters) until the fuzzer's memory limit was near.
    fn drain_queues(&self) {
        crate::runtime().block_on(async {
            for queue in queues(&self.stack) {
                while let Ok(received) = queue.receive(10, Duration::ZERO).await {
                    if received.is_empty() {
                        break;
                    }
                    for message in received {
                        let _ = queue.delete(&message.receipt_handle).await;
                    }
                }
            }
        });
    }
}

/// Every queue of the stack an input can leave messages in.
fn queues(stack: &LocalStack) -> [&Arc<LocalQueue>; 5] {
    [
        &stack.process_queue,
        &stack.indexer_queue,
        &stack.output_dead_letters,
        &stack.ingest_dead_letters,
        &stack.answer_failures,
    ]
}

/// An HTTP request written as on the wire, which keeps the seeds readable:
/// `METHOD /path?query`, header lines `name: value`, a blank line, then the body's bytes.
fn parse_request(data: &[u8]) -> RouteRequest {
    let split = data.windows(2).position(|pair| pair == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut start = lines.next().unwrap_or_default().split_whitespace();
    let method = start.next().unwrap_or_default();
    let (path, query) = start.next().unwrap_or_default().split_once('?').unwrap_or((start_path(&head), ""));
    let mut request = RouteRequest::new(method, path);
    request.query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    request.headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .filter(|(name, value)| is_header_name(name) && is_header_value(value))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    request.body = body.to_vec();
    request
}

/// A header name an HTTP server accepts (RFC 9110's token): no proxy or API Gateway passes
/// any other to a function.
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value of visible ASCII, spaces and tabs.
fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The path of a request line with no query string.
fn start_path(head: &str) -> &str {
    head.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or_default()
}

/// Whether the caller itself sent `needle`, as bytes or inside a JSON string (whose escapes
/// the handler undoes). The fuzzer learns the data directory's name from the check below
/// (libFuzzer traces the comparison) and puts it in requests; an answer that repeats a
/// caller's own field name to it leaks nothing.
fn sent(sent: &[u8], needle: &str) -> bool {
    let json_text = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).map(|v| v.to_string()).unwrap_or_default();
    let body = sent.windows(2).position(|pair| pair == b"\n\n").map_or(&[][..], |at| &sent[at + 2..]);
    [String::from_utf8_lossy(sent).into_owned(), json_text(sent), json_text(body)]
        .iter()
        .any(|text| text.contains(needle))
}

/// What every HTTP answer owes its caller, whatever it was sent: no 5xx but an honest 503
/// (or 501 for what a store cannot do), problem+json for an error, and nothing of the
/// machine it runs on.
fn check_http(function: &str, response: &RouteResponse, data_dir: &Path, input: &[u8]) {
    let body = String::from_utf8_lossy(&response.body);
    assert!(
        response.status < 500 || matches!(response.status, 501 | 503),
        "{function} answered {}: {body}",
        response.status
    );
    let data_dir = data_dir.to_string_lossy();
    let unique = data_dir.rsplit('/').next().unwrap_or_default();
    assert!(
        !body.contains(data_dir.as_ref()) || sent(input, unique),
        "{function}'s answer names the data directory: {body}"
    );
    // The agent protocols answer in their own error shapes (JSON-RPC, OpenAI's).
    if response.status >= 400 && function != "gateway" {
        let content_type = response.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        assert_eq!(content_type.map(|(_, value)| value.as_str()), Some(Problem::CONTENT_TYPE), "{function}: {body}");
        let problem: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        assert_eq!(problem["status"], response.status, "{function}'s problem disagrees with its status: {body}");
        assert!(problem["type"].as_str().is_some_and(|t| !t.is_empty()), "{function}'s problem has no type: {body}");
    }
}

/// Target `http_routes`: one request to whichever route it names.
pub fn http_routes(data: &[u8]) {
    let request = parse_request(data);
    let Some((route, parameters)) = request.route() else { return };
    let event = request.event(&route, &parameters, "fuzz");
    with_pipeline(|pipeline| {
        let answered = pipeline.invoke(route.function, event);
        pipeline.drain_queues();
        match answered {
            Ok(response) => {
                check_http(route.function, &RouteResponse::from_proxy(&response), pipeline.data_dir(), data)
            }
            Err(error) => panic!("{} failed an HTTP request instead of answering it: {error}", route.function),
        }
    })
}

/// Any JSON event to `function`. Failing the invocation is how a non-HTTP trigger refuses
/// (with a stable error name, to the DLQ or a Catch); an HTTP-shaped event is answered.
fn event(function: &str, data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Value>(data) else { return };
    let is_http = TriggerKind::of(&event) == TriggerKind::Http;
    with_pipeline(|pipeline| {
        let answered = pipeline.invoke(function, event);
        pipeline.drain_queues();
        if let Ok(response) = answered {
            if is_http && response.get("statusCode").is_some() {
                check_http(function, &RouteResponse::from_proxy(&response), pipeline.data_dir(), data);
            }
        }
    })
}

pub fn event_ingest(data: &[u8]) {
    event("ingest", data)
}

pub fn event_process(data: &[u8]) {
    event("process", data)
}

pub fn event_retrieve(data: &[u8]) {
    event("retrieve", data)
}

pub fn event_indexer(data: &[u8]) {
    event("retrieve-indexer", data)
}

pub fn event_infer(data: &[u8]) {
    event("infer", data)
}

pub fn event_output(data: &[u8]) {
    event("output", data)
}

pub fn event_answer(data: &[u8]) {
    event("answer", data)
}

pub fn event_gateway(data: &[u8]) {
    event("gateway", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(stack: &LocalStack) -> Vec<usize> {
        queues(stack).map(|queue| queue.len()).to_vec()
    }

    #[test]
    fn an_input_leaves_nothing_queued() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        let read = |path: &str| std::fs::read(seeds.join(path)).unwrap();
        // An accepted document queues its processing; a refused delivery is a dead letter.
        event_ingest(&read("event_ingest/http-post-documents.json"));
        event_output(&read("event_output/sqs-delivery-batch.json"));
        assert_eq!(with_pipeline(|pipeline| queued(&pipeline.stack)), vec![0; 5]);
    }

    #[test]
    fn a_stack_that_served_its_share_is_replaced_with_its_directory() {
        let mut pipelines = Pipelines { current: None, per_stack: 2 };
        let data_dir = |pipeline: &Pipeline| pipeline.data_dir().to_path_buf();
        let first = pipelines.serve(data_dir);
        assert_eq!(pipelines.serve(data_dir), first, "a stack serves per_stack inputs");
        let second = pipelines.serve(data_dir);
        assert_ne!(second, first);
        assert!(!first.exists(), "the replaced stack's directory is removed");
        assert!(second.exists());
    }

    fn problem_naming(text: &str) -> RouteResponse {
        let problem = serde_json::json!({"type": "urn:seams:problem:invalid-input", "status": 400,
            "detail": format!("unknown field `{text}`")});
        RouteResponse {
            status: 400,
            headers: vec![("content-type".into(), Problem::CONTENT_TYPE.into())],
            body: problem.to_string().into_bytes(),
        }
    }

    #[test]
    fn an_answer_repeating_the_callers_own_text_is_no_leak() {
        let data_dir = Path::new("/tmp/.tmpAbC123");
        let echoed = problem_naming("max_to/tmp/.tmpAbC123kens");
        check_http("infer", &echoed, data_dir, b"POST /inference\n\n{\"max_to/tmp/.tmpAbC123kens\": 1}");
        // Sent with JSON escapes, which the handler undid.
        check_http("infer", &echoed, data_dir, b"{\"max_to\\/tmp\\/.tmp\\u0041bC123kens\": 1}");
    }

    #[test]
    #[should_panic(expected = "names the data directory")]
    fn an_answer_naming_the_data_directory_unasked_fails() {
        let data_dir = Path::new("/tmp/.tmpAbC123");
        check_http("ingest", &problem_naming("/tmp/.tmpAbC123/ingest/raw"), data_dir, b"{\"content\": \"x\"}");
    }

    #[test]
    fn a_request_reads_as_written() {
        let request = parse_request(b"DELETE /documents/a%20b?x=1&y\ncontent-type: text/plain\nX-A:  b \n\n\xffbody");
        assert_eq!((request.method.as_str(), request.path.as_str()), ("DELETE", "/documents/a%20b"));
        assert_eq!(request.query, vec![("x".into(), "1".into()), ("y".into(), String::new())]);
        assert_eq!(request.headers, vec![("content-type".into(), "text/plain".into()), ("X-A".into(), "b".into())]);
        assert_eq!(request.body, b"\xffbody");
        assert_eq!(parse_request(b"GET /documents").path, "/documents");
        let odd = parse_request(b"GET /documents\ncont]nt-type: a\nx-a: caf\xc3\xa9\nx-b: ok\n\n");
        assert_eq!(odd.headers, vec![("x-b".into(), "ok".into())], "what no HTTP server would pass on is dropped");
    }
}
