//! The answer state machine under injected faults, executed by moto's Step Functions with
//! its tasks run by the real retrieve, infer and output handlers (moto calls them through
//! Lambda's Invoke API, `seams_tests::invoke_api`). A fifth of the calls on every wire are
//! faulted (a 500, a 503, a throttle, a reset connection or an answer after the client's
//! timeout, half of them after the other side acted): the callers' StartExecution, Step
//! Functions' Lambda invocations, infer's calls to its model provider and output's webhook
//! deliveries. Every question must end delivered exactly once (one delivery id at the
//! receiver) or in the failures queue with its cause; none may be lost or count twice.
//! `SEAMS_FAULT_QUESTIONS` sets the size (the bench runs 200).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, StateMachineType};
use seams::{InvokeError, LocalStack};
use seams_tests::fault_proxy::FaultProxy;
use seams_tests::invoke_api::{FunctionError, Functions, InvokeApi};
use seams_tests::step_functions::Deployment;
use serde_json::{json, Value};

const FAULT_SHARE: f64 = 0.2;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a caller asks StartExecution before giving up.
const TRIES: u32 = 30;
const QUESTIONS: [&str; 5] = [
    "How long do card refunds take to appear?",
    "When are deployments not allowed?",
    "How quickly must the on-call engineer acknowledge a page?",
    "How much is reimbursed for hotels in London?",
    "Can digital products be refunded?",
];

fn questions() -> usize {
    std::env::var("SEAMS_FAULT_QUESTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(12)
}

/// The webhook receiver: every delivery's `webhook-id` and `request_id`, duplicates kept.
#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let deliveries = self.deliveries.clone();
        let app = axum::Router::new().route(
            "/hooks/answers",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::Json<Value>| async move {
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let request = body["request_id"].as_str().unwrap_or_default().to_owned();
                deliveries.lock().unwrap().push((id, request));
                axum::http::StatusCode::NO_CONTENT
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        endpoint
    }
}

/// An OpenAI-compatible model that answers every question from its first source.
async fn model_provider() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1764700000, "model": "gpt-fault-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "The policy says so."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 6, "total_tokens": 96}})))
        .mount(&server)
        .await;
    server
}

/// retrieve, infer and output on the local stack, by the names the definition invokes.
fn functions(stack: Arc<LocalStack>) -> Functions {
    Arc::new(move |name: String, event: Value| {
        let stack = stack.clone();
        Box::pin(async move {
            let function = name.strip_prefix("seams-").unwrap_or(&name).to_owned();
            seams::invoke(&stack, &function, event).await.map_err(|error| match error {
                InvokeError::Handler(error) => {
                    FunctionError { error_type: error.name.as_str().to_owned(), message: error.to_string() }
                }
                other => FunctionError { error_type: "Seams.InvalidInput".to_owned(), message: other.to_string() },
            })
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_a_fifth_of_calls_faulted_every_question_is_delivered_once_or_recorded_as_failed() {
    let provider = model_provider().await;
    let provider_proxy = FaultProxy::start(&provider.uri(), FAULT_SHARE, ATTEMPT_TIMEOUT * 2, 31).await;
    let receiver = Receiver::default();
    let receiver_proxy = FaultProxy::start(&receiver.start().await, FAULT_SHARE, ATTEMPT_TIMEOUT * 2, 32).await;

    // The documents, indexed before the faults start.
    let data = tempfile::tempdir().unwrap();
    let variables = BTreeMap::from([
        ("SEAMS_MODEL_PROVIDER", "openai".to_owned()),
        ("SEAMS_MODEL_ID", "gpt-fault-test".to_owned()),
        ("SEAMS_MODEL_BASE_URL", format!("{}/v1", provider_proxy.endpoint)),
        ("SEAMS_MODEL_API_KEY", "sk-fault-test".to_owned()),
        ("SEAMS_MODEL_TIMEOUT_SECONDS", "1".to_owned()),
        ("SEAMS_DELIVERY_TIMEOUT_SECONDS", "1".to_owned()),
    ])
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let stack = Arc::new(LocalStack::configured(data.path(), variables).await.unwrap());
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs").to_owned();
    let ingested = seams::commands::ingest_files(&stack, &[docs], |_, _, _| {}).await;
    assert!(ingested.ingested.len() > 5 && ingested.rejected.is_empty(), "{:?}", ingested.rejected);

    // The Lambda tasks run for real, behind faults, at the endpoint moto invokes.
    let invoke_api = InvokeApi::start(functions(stack.clone())).await;
    let lambda_proxy = FaultProxy::start(&invoke_api.endpoint, FAULT_SHARE, ATTEMPT_TIMEOUT * 2, 33).await;
    let deployment = Deployment::new(&[]).await;
    deployment.moto.run_functions_at(&lambda_proxy.endpoint).await;
    let machine = deployment.create(StateMachineType::Standard).await;
    let sfn_proxy = FaultProxy::start(&deployment.moto.endpoint, FAULT_SHARE, ATTEMPT_TIMEOUT * 2, 34).await;
    let sfn = aws_sdk_sfn::Client::new(&sfn_proxy.sdk(&deployment.moto, ATTEMPT_TIMEOUT).await.1);

    // Callers start each question under its own execution name, and ask again on an error:
    // a name already taken means an earlier try started it (its answer was lost).
    let count = questions();
    let started = Instant::now();
    let hook = format!("{}/hooks/answers", receiver_proxy.endpoint);
    let mut refused = Vec::new();
    for i in 0..count {
        let id = format!("q-{i:04}");
        let input = json!({"question": QUESTIONS[i % QUESTIONS.len()], "top_k": 3,
                           "destination": {"type": "webhook", "url": hook}});
        let mut last = String::new();
        let accepted = 'tries: {
            for attempt in 0..TRIES {
                let start = sfn.start_execution().state_machine_arn(&machine).name(&id).input(input.to_string());
                match start.send().await {
                    Ok(_) => break 'tries true,
                    Err(error) if error.as_service_error().is_some_and(|e| e.is_execution_already_exists()) => {
                        break 'tries true
                    }
                    Err(error) => {
                        last = format!("{:?}", error.as_service_error().map(|e| e.to_string()));
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    }
                }
            }
            false
        };
        if !accepted {
            refused.push(format!("{id}: {last}"));
        }
    }
    assert_eq!(refused, Vec::<String>::new(), "every question was started");

    // Until every execution has ended (asked of moto directly, not through the faults).
    let deadline = Instant::now() + Duration::from_secs(120 + 3 * count as u64);
    let statuses = loop {
        let listed = deployment
            .moto
            .sfn()
            .list_executions()
            .state_machine_arn(&machine)
            .max_results(1000)
            .send()
            .await
            .expect("ListExecutions");
        let statuses: BTreeMap<String, ExecutionStatus> =
            listed.executions().iter().map(|e| (e.name().to_owned(), e.status().clone())).collect();
        let running = statuses.values().filter(|s| **s == ExecutionStatus::Running).count();
        if running == 0 || Instant::now() > deadline {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let elapsed = started.elapsed();

    // What became of each question: its distinct deliveries, and its failure records.
    let deliveries = receiver.deliveries.lock().unwrap().clone();
    let mut delivered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (webhook_id, request_id) in &deliveries {
        delivered.entry(request_id.clone()).or_default().insert(webhook_id.clone());
    }
    let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        let messages = deployment.messages(&deployment.failures_queue).await;
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let id = message["request"]["request_id"].as_str().unwrap_or_default().to_owned();
            let cause = message["failure"].to_string();
            failed.entry(id).or_default().push(cause);
        }
    }
    let ids: Vec<String> = (0..count).map(|i| format!("q-{i:04}")).collect();
    let lost: Vec<&String> =
        ids.iter().filter(|id| !delivered.contains_key(*id) && !failed.contains_key(*id)).collect();
    let twice: Vec<&String> = ids
        .iter()
        .filter(|id| delivered.get(*id).map_or(0, BTreeSet::len) + failed.get(*id).map_or(0, Vec::len) > 1)
        .collect();
    let causes: BTreeSet<&String> = failed.values().flatten().collect();
    let running = statuses.values().filter(|s| **s == ExecutionStatus::Running).count();
    println!(
        "answer faults: {count} questions, {} delivered once, {} in the failures queue, {} lost, {} twice, \
         {running} still running; {} POSTs at the receiver; calls/faults: StartExecution {}/{}, Lambda {}/{}, \
         model {}/{}, webhook {}/{}; {:.1} s; failure causes: {causes:?}",
        delivered.len(),
        failed.len(),
        lost.len(),
        twice.len(),
        deliveries.len(),
        sfn_proxy.requests(),
        sfn_proxy.injected(),
        lambda_proxy.requests(),
        lambda_proxy.injected(),
        provider_proxy.requests(),
        provider_proxy.injected(),
        receiver_proxy.requests(),
        receiver_proxy.injected(),
        elapsed.as_secs_f64(),
    );
    assert_eq!(lost, Vec::<&String>::new(), "questions neither delivered nor recorded as failed");
    assert_eq!(twice, Vec::<&String>::new(), "questions delivered twice, or delivered and recorded as failed");
    assert!(failed.values().flatten().all(|cause| cause.contains("error")), "every failure has its cause: {failed:?}");
    for proxy in [&sfn_proxy, &lambda_proxy, &provider_proxy, &receiver_proxy] {
        assert!(proxy.injected() > 0, "every wire was faulted");
    }
}
