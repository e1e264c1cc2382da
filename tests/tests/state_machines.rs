//! The answer state machine's real definition (statemachines/answer.asl.json, substitutions
//! filled as template.yaml fills them) executed by moto's Step Functions interpreter. The
//! Lambda tasks get queued results, including function errors; SQS and EventBridge are moto's.
//! Every payload the definition sends a function is checked against that function's contract.

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType, StateMachineType};
use seams_contracts::infer::InferenceRequest;
use seams_contracts::output::DeliveryRequest;
use seams_contracts::retrieve::RetrieveRequest;
use seams_platform::event_bus::EventPattern;
use seams_tests::stack::Moto;
use seams_tests::unique;
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const NO_CONTEXT: &str = "I could not find that in the documents.";
const QUESTION: &str = "How long do refunds take?";

struct Deployment {
    moto: Moto,
    region: String,
    failures_queue: String,
    announced_queue: String,
    bus: String,
}

impl Deployment {
    /// The failures queue, a bus whose `AnswerFailed` events reach a queue, and the Lambda
    /// results the tasks will get, in the order they are invoked.
    async fn new(region: &str, lambda_results: &[Value]) -> Deployment {
        let moto = Moto::connect_in(region).await;
        let (failures_queue, _) = moto.create_queue(30, None).await;
        let (announced_queue, announced_arn) = moto.create_queue(30, None).await;
        let pattern = EventPattern::detail_types(&["AnswerFailed"]);
        let bus = moto.create_bus_with_rule(&pattern, &announced_arn).await;
        moto.queue_lambda_results(lambda_results).await;
        Deployment { moto, region: region.into(), failures_queue, announced_queue, bus }
    }

    fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:function:{name}", self.region)
    }

    /// The definition as CloudFormation would deploy it.
    fn definition(&self) -> String {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../statemachines/answer.asl.json"))
            .expect("statemachines/answer.asl.json");
        let substitutions = [
            ("RetrieveFunctionArn", self.function_arn("seams-retrieve")),
            ("InferFunctionArn", self.function_arn("seams-infer")),
            ("OutputFunctionArn", self.function_arn("seams-output")),
            ("FailuresQueueUrl", self.failures_queue.clone()),
            ("EventBusName", self.bus.clone()),
            ("NoContextAnswer", NO_CONTEXT.into()),
            ("DefaultInstructions", "Answer from the context only; cite the ids you use.".into()),
        ];
        let filled =
            substitutions.iter().fold(text, |text, (name, value)| text.replace(&format!("${{{name}}}"), value));
        assert!(!filled.contains("${"), "a substitution is missing: {filled}");
        filled
    }

    async fn create(&self, kind: StateMachineType) -> String {
        let created = self
            .moto
            .sfn()
            .create_state_machine()
            .name(unique("answer"))
            .definition(self.definition())
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/seams-answer"))
            .r#type(kind)
            .send()
            .await
            .expect("moto creates the state machine");
        created.state_machine_arn
    }

    /// Runs a Standard execution to its end: its status, output or error, and history.
    async fn run(&self, input: &Value) -> Execution {
        self.run_as(StateMachineType::Standard, input).await
    }

    async fn run_as(&self, kind: StateMachineType, input: &Value) -> Execution {
        let sfn = self.moto.sfn();
        let machine = self.create(kind).await;
        let started = sfn.start_execution().state_machine_arn(machine).input(input.to_string()).send().await;
        let arn = started.expect("the execution starts").execution_arn;
        for _ in 0..300 {
            let described = sfn.describe_execution().execution_arn(&arn).send().await.expect("DescribeExecution");
            if described.status != ExecutionStatus::Running {
                let history = sfn
                    .get_execution_history()
                    .execution_arn(&arn)
                    .max_results(1000)
                    .send()
                    .await
                    .expect("GetExecutionHistory")
                    .events;
                return Execution {
                    status: described.status,
                    output: described.output.map(|o| serde_json::from_str(&o).expect("JSON output")),
                    error: described.error,
                    cause: described.cause,
                    history,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the execution did not finish in 30 s");
    }

    async fn messages(&self, queue: &str) -> Vec<Value> {
        let received = self
            .moto
            .sqs()
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        received.messages().iter().filter_map(|m| m.body()).map(|b| serde_json::from_str(b).expect("JSON")).collect()
    }
}

struct Execution {
    status: ExecutionStatus,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    history: Vec<HistoryEvent>,
}

impl Execution {
    /// The states entered, in order.
    fn states(&self) -> Vec<String> {
        self.history.iter().filter_map(|e| e.state_entered_event_details()).map(|d| d.name().to_owned()).collect()
    }

    /// The payloads sent to Lambda, in order, with the function each went to.
    fn invocations(&self) -> Vec<(String, Value)> {
        self.history
            .iter()
            .filter(|e| e.r#type == HistoryEventType::TaskScheduled)
            .filter_map(|e| e.task_scheduled_event_details())
            .filter(|d| d.resource_type == "lambda")
            .map(|d| {
                let parameters: Value = serde_json::from_str(&d.parameters).expect("JSON parameters");
                let function = parameters["FunctionName"].as_str().unwrap_or_default();
                let name = function.rsplit(':').next().unwrap_or_default().to_owned();
                (name, parameters["Payload"].clone())
            })
            .collect()
    }

    fn failed_tasks(&self) -> Vec<String> {
        self.history.iter().filter_map(|e| e.task_failed_event_details()).filter_map(|d| d.error.clone()).collect()
    }
}

fn chunk(id: &str, document: &str, title: &str, uri: &str, text: &str) -> Value {
    json!({"document_id": document, "version": 1, "chunk_id": id, "text": text, "score": 0.03,
           "ranks": {"vector": 1, "keyword": 1}, "metadata": {"category": "policy"},
           "citation": {"source_uri": uri, "title": title, "heading_path": ["Refunds"]}})
}

fn retrieved(results: Vec<Value>) -> Value {
    json!({"schema_version": 1, "results": results, "search_mode": "hybrid",
           "embedding_model": "seams-hashing-384-v1"})
}

fn inferred(text: &str, citations: &[&str]) -> Value {
    json!({"schema_version": 1, "request_id": "r", "output": {"text": text}, "citations": citations,
           "model": "seams-offline-extractive-v1", "provider": "offline",
           "usage": {"input_tokens": 80, "output_tokens": 12}, "finish_reason": "stop", "latency_ms": 2,
           "truncated_context": []})
}

fn receipt(request_id: &str, body: &str, citations: Value) -> Value {
    json!({"schema_version": 1, "request_id": request_id, "destination": "http_response", "status": "delivered",
           "attempts": 1, "delivered_at": "2026-11-27T10:00:00Z", "body": body, "citations": citations})
}

fn function_error(name: &str, message: &str) -> Value {
    json!({"errorType": name, "errorMessage": message})
}

fn question() -> Value {
    json!({"request_id": "req-7", "correlation_id": "corr-7", "question": QUESTION, "top_k": 3,
           "filters": {"category": "policy"}, "destination": {"type": "http_response"}})
}

fn happy_results() -> Vec<Value> {
    let refunds = chunk("refunds:1:0", "refunds", "Refund policy", "https://intra/refunds", "Refunds take 14 days.");
    let cited = json!([{"id": "refunds:1:0", "document_id": "refunds", "title": "Refund policy",
                        "source_uri": "https://intra/refunds"}]);
    vec![
        retrieved(vec![refunds]),
        inferred("Refunds take 14 days [refunds:1:0].", &["refunds:1:0"]),
        receipt("req-7", "Refunds take 14 days [refunds:1:0].\n\nSources: Refund policy", cited),
    ]
}

const HAPPY_STATES: [&str; 8] =
    ["Prepare", "ApplyDefaults", "Validate", "Retrieve", "HasContext", "Infer", "Deliver", "Answered"];

#[tokio::test]
async fn a_question_is_retrieved_inferred_and_delivered() {
    let deployment = Deployment::new("eu-west-1", &happy_results()).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    assert_eq!(execution.states(), HAPPY_STATES);
    let output = execution.output.clone().expect("an output");
    assert_eq!(output["request_id"], "req-7");
    assert_eq!(output["correlation_id"], "corr-7");
    assert_eq!(output["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
    assert_eq!(output["citations"][0]["document_id"], "refunds");
    assert_eq!(output["citations"][0]["source_uri"], "https://intra/refunds");
    assert_eq!(output["delivery"]["status"], "delivered");
    assert_eq!(output["model"], "seams-offline-extractive-v1");

    // What each function was sent is what its contract accepts.
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-infer", "seams-output"]);
    let retrieve: RetrieveRequest = serde_json::from_value(invocations[0].1.clone()).expect("a RetrieveRequest");
    assert_eq!((retrieve.query.as_str(), retrieve.top_k), (QUESTION, 3));
    assert!(retrieve.filters.is_some());
    assert_eq!(retrieve.correlation_id.map(|c| c.0).as_deref(), Some("corr-7"));
    let infer: InferenceRequest = serde_json::from_value(invocations[1].1.clone()).expect("an InferenceRequest");
    assert_eq!(infer.request_id, "req-7");
    assert!(infer.instructions.ends_with(&format!("Question: {QUESTION}")), "{}", infer.instructions);
    let context = serde_json::to_value(&infer.context).unwrap();
    assert_eq!(context[0]["id"], "refunds:1:0", "retrieve's results are infer's context as they are");
    let deliver: DeliveryRequest = serde_json::from_value(invocations[2].1.clone()).expect("a DeliveryRequest");
    assert_eq!(deliver.result.citations, ["refunds:1:0"]);
    assert_eq!(deliver.metadata["sources"][0]["citation"]["title"], "Refund policy");

    assert!(deployment.messages(&deployment.failures_queue).await.is_empty());
}

#[tokio::test]
async fn the_same_definition_runs_as_the_express_machine() {
    // POST /answer runs it with StartSyncExecution, which moto 5.2.5 does not serve; an
    // asynchronous Express execution interprets the same definition.
    let deployment = Deployment::new("eu-west-2", &happy_results()).await;
    let execution = deployment.run_as(StateMachineType::Express, &question()).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let output = execution.output.expect("an output");
    assert_eq!(output["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
    assert_eq!(output["delivery"]["body"], "Refunds take 14 days [refunds:1:0].\n\nSources: Refund policy");
}

#[tokio::test]
async fn a_transient_error_is_retried_and_the_answer_still_delivered() {
    let mut results = vec![function_error("Seams.Transient", "the index is reloading")];
    results.extend(happy_results());
    let deployment = Deployment::new("eu-west-3", &results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    assert_eq!(execution.failed_tasks(), ["Seams.Transient"]);
    let functions: Vec<String> = execution.invocations().into_iter().map(|(f, _)| f).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-retrieve", "seams-infer", "seams-output"], "retried once");
    assert_eq!(execution.states(), HAPPY_STATES, "a retry stays in its state");
    assert_eq!(execution.output.unwrap()["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
}

#[tokio::test]
async fn invalid_input_is_not_retried_and_ends_in_the_failures_queue() {
    let results = [function_error("Seams.InvalidInput", "top_k: must be 1 to 100")];
    let deployment = Deployment::new("eu-central-1", &results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.InvalidInput"));
    let cause = execution.cause.clone().unwrap_or_default();
    assert!(cause.starts_with("Retrieve failed: ") && cause.contains("top_k: must be 1 to 100"), "{cause}");
    assert_eq!(execution.invocations().len(), 1, "never retried");
    assert_eq!(
        execution.states(),
        [
            "Prepare",
            "ApplyDefaults",
            "Validate",
            "Retrieve",
            "RetrieveFailed",
            "RecordFailure",
            "AnnounceFailure",
            "Failed"
        ]
    );

    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["request"]["question"], QUESTION, "the original request is kept");
    assert_eq!(failures[0]["failure"]["step"], "Retrieve");
    assert_eq!(failures[0]["failure"]["error"], "Seams.InvalidInput");
    let announced = deployment.messages(&deployment.announced_queue).await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    let detail: seams_contracts::answer::AnswerFailed =
        serde_json::from_value(announced[0]["detail"].clone()).expect("an AnswerFailed event");
    assert_eq!((detail.step.as_str(), detail.request_id.as_deref()), ("Retrieve", Some("req-7")));
    assert_eq!(detail.error, seams_contracts::ErrorName::InvalidInput);
}

#[tokio::test]
async fn nothing_retrieved_gets_the_no_context_answer_without_the_model() {
    let results = [retrieved(vec![]), receipt("req-7", NO_CONTEXT, json!([]))];
    let deployment = Deployment::new("ap-southeast-1", &results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let states = execution.states();
    assert!(states.contains(&"NoContextAnswer".to_owned()) && !states.contains(&"Infer".to_owned()), "{states:?}");
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-output"], "infer is never invoked");
    let deliver: DeliveryRequest = serde_json::from_value(invocations[1].1.clone()).expect("a DeliveryRequest");
    assert_eq!(serde_json::to_value(&deliver.result.output).unwrap()["text"], NO_CONTEXT);
    assert_eq!(execution.output.unwrap()["answer"]["text"], NO_CONTEXT);
}

#[tokio::test]
async fn a_request_without_a_question_fails_before_any_function() {
    let deployment = Deployment::new("ap-northeast-1", &[]).await;
    let execution = deployment.run(&json!({"destination": {"type": "http_response"}})).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.InvalidInput"));
    assert!(execution.invocations().is_empty());
    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures[0]["failure"]["step"], "Validate");
}
