//! `POST /answer`: runs the answer workflow synchronously and answers with its result, or
//! with its failure as a problem document naming the step that failed.
//!
//! An HTTP API integration straight to Step Functions cannot rewrite the response, so the
//! caller would get Step Functions' envelope (always HTTP 200). This function is that
//! integration's replacement (docs/decisions/0010-answer-workflow.md); the workflow itself is
//! behind the [`Workflow`] trait: the Express state machine when deployed, the local runner in
//! `seams up`.

pub mod sessions;
#[cfg(feature = "aws")]
pub mod step_functions;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::answer::{AnswerRequest, MAX_QUESTION_CHARS};
use seams_contracts::session::{SessionInvoke, SessionStep};
use seams_contracts::{CorrelationId, ErrorName};
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::tenancy::{refuse_callers_tenant, Caller, Tenancy};
use seams_platform::trigger::Trigger;
use seams_platform::ServiceError;
use serde_json::{json, Value};

use crate::sessions::Sessions;

/// How an execution of the answer workflow ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    /// The `Fail` state's error (a `Seams.*` name, or a `States.*` one) and cause, which the
    /// definition writes as `"<Step> failed: <the step's cause>"`.
    Failed {
        error: String,
        cause: String,
    },
    TimedOut,
}

/// The answer workflow, run to its end.
#[async_trait]
pub trait Workflow: Send + Sync {
    async fn run(&self, input: Value) -> Result<Outcome, ServiceError>;
}

/// An hour after its last turn, a conversation is over.
pub const DEFAULT_SESSION_TTL_SECONDS: u64 = 3600;

pub struct Config {
    pub aws: seams_platform::aws::AwsSettings,
    pub state_machine_arn: String,
    /// How long to wait for an execution's end before answering `Seams.Transient`.
    pub wait: Duration,
    /// Whose documents an answer may come from (`SEAMS_TENANT_CLAIM`).
    pub tenancy: Tenancy,
    /// The bucket conversations are kept in (`SEAMS_SESSIONS_BUCKET`).
    pub sessions_bucket: String,
    /// How long a conversation lasts after its last turn (`SEAMS_SESSION_TTL_SECONDS`).
    pub session_ttl: Duration,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: seams_platform::aws::AwsSettings::from_env(&env),
            state_machine_arn: env.required("SEAMS_ANSWER_STATE_MACHINE_ARN"),
            wait: Duration::from_secs(env.parse_or("SEAMS_ANSWER_WAIT_SECONDS", 28)),
            tenancy: Tenancy::from_env(&env),
            sessions_bucket: env.required("SEAMS_SESSIONS_BUCKET"),
            session_ttl: Duration::from_secs(env.parse_or("SEAMS_SESSION_TTL_SECONDS", DEFAULT_SESSION_TTL_SECONDS)),
        };
        env.finish().map(|()| config)
    }
}

#[derive(Debug, Clone)]
pub enum Request {
    /// The body as sent (checked against [`AnswerRequest`]), so the workflow gets exactly
    /// what the caller wrote, and the caller, whose tenant the answer is for.
    Answer(Value, Caller),
    /// A session step of the workflow (direct invoke `{"session": …}`).
    Session(SessionStep),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Answer(..) => "answer",
            Request::Session(SessionStep::Load { .. }) => "session-load",
            Request::Session(SessionStep::Record { .. }) => "session-record",
        }
    }
}

pub struct Service {
    workflow: Arc<dyn Workflow>,
    sessions: Sessions,
    tenancy: Tenancy,
}

impl Service {
    pub fn new(workflow: Arc<dyn Workflow>, sessions: Sessions) -> Self {
        Self { workflow, sessions, tenancy: Tenancy::single() }
    }

    /// The same service answering each caller from its tenant's documents only.
    pub fn with_tenancy(self, tenancy: Tenancy) -> Self {
        Self { tenancy, ..self }
    }
}

#[async_trait]
impl Function for Service {
    const SERVICE: &'static str = "answer";
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        let body = seams_platform::http::body_bytes(request)?;
        // Refuses what the workflow would refuse, naming the field, before an execution starts.
        let asked: AnswerRequest = from_value(parse_json(&body)?)?;
        if asked.question.trim().is_empty() {
            return Err(ServiceError::invalid_input("question", "the question is empty"));
        }
        if asked.question.chars().count() > MAX_QUESTION_CHARS {
            let detail = format!("the question is longer than {MAX_QUESTION_CHARS} characters");
            return Err(ServiceError::invalid_input("question", detail));
        }
        if asked.tenant.is_some() {
            return Err(refuse_callers_tenant("tenant"));
        }
        if asked.session_id.as_deref().is_some_and(|id| !seams_contracts::session::is_session_id(id)) {
            return Err(ServiceError::invalid_input("session_id", seams_contracts::session::SESSION_ID_RULE));
        }
        // The typed request, not the body: a field given as `null` is left out, so the
        // workflow's default applies (its JSON merge would keep the null).
        let input = serde_json::to_value(&asked)
            .map_err(|e| ServiceError::transient(format!("could not encode the request: {e}")))?;
        Ok(Request::Answer(input, Caller::of(request)))
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        if let Trigger::Direct(payload) = trigger {
            if payload.get("session").is_some() {
                return Ok(Request::Session(from_value::<SessionInvoke>(payload)?.session));
            }
        }
        Err(ServiceError::invalid_input(
            "event",
            "answer is triggered by POST /answer, or by the answer workflow's session steps",
        ))
    }

    async fn serve(&self, request: Request, correlation: CorrelationId) -> Result<Reply, ServiceError> {
        let (mut input, caller) = match request {
            Request::Answer(input, caller) => (input, caller),
            Request::Session(step) => return self.session(step).await,
        };
        let tenant = self.tenancy.tenant_of(&caller)?;
        if let Some(object) = input.as_object_mut() {
            object.entry("correlation_id").or_insert_with(|| json!(correlation.as_str()));
            if let Some(tenant) = tenant {
                object.insert("tenant".to_owned(), json!(tenant.as_str()));
            }
        }
        reply(self.workflow.run(input).await?)
    }
}

impl Service {
    async fn session(&self, step: SessionStep) -> Result<Reply, ServiceError> {
        let history = match step {
            SessionStep::Load { session_id, tenant } => self.sessions.load(&session_id, tenant.as_deref()).await?,
            SessionStep::Record { session_id, tenant, new, turn } => {
                self.sessions.record(&session_id, tenant.as_deref(), new, turn).await?
            }
        };
        Reply::json(200, &history)
    }
}

/// The workflow's result as the response, or its failure as the error the caller gets.
pub fn reply(outcome: Outcome) -> Result<Reply, ServiceError> {
    match outcome {
        Outcome::Succeeded(output) => Ok(Reply::ok(output)),
        Outcome::Failed { error, cause } => Err(failure(&error, &cause)),
        Outcome::TimedOut => Err(ServiceError::transient("the answer workflow did not finish in time")),
    }
}

/// A failed execution as an error: its `Seams.*` name (anything else, such as
/// `States.Timeout`, is transient), the step the cause names, and the step's own message
/// when the cause carries a function's error payload.
pub fn failure(error: &str, cause: &str) -> ServiceError {
    let mut name: Option<ErrorName> = serde_json::from_value(json!(error)).ok();
    let (step, reason) = match cause.split_once(" failed: ") {
        Some((step, reason)) => (Some(step), reason),
        None => (None, cause),
    };
    let mut reason = function_error_message(reason).unwrap_or_else(|| reason.to_owned());
    if error == DATA_LIMIT_EXCEEDED {
        // What the request asked for does not fit a workflow's state: asked again, it fails
        // again.
        name = Some(ErrorName::InvalidInput);
        reason = format!(
            "{DATA_LIMIT_EXCEEDED}: the step's data passed Step Functions' 256 KiB; ask for fewer passages (top_k), \
             or send a shorter question or instructions"
        );
    }
    let reason = if reason.trim().is_empty() { error.to_owned() } else { reason };
    let detail = match (step, name) {
        (Some(step), Some(_)) => format!("{step} failed: {reason}"),
        (Some(step), None) => format!("{step} failed: {error}: {reason}"),
        (None, Some(_)) => reason,
        (None, None) => format!("{error}: {reason}"),
    };
    let failure = ServiceError::new(name.unwrap_or(ErrorName::Transient), detail);
    match step {
        Some(step) => failure.in_step(step),
        None => failure,
    }
}

/// Step Functions' error for a state's data past its 256 KiB bound.
const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";

/// `errorMessage` of a Lambda error payload (`{"errorType": …, "errorMessage": …}`), which
/// Step Functions passes on as a task's cause.
fn function_error_message(cause: &str) -> Option<String> {
    let payload: Value = serde_json::from_str(cause).ok()?;
    payload.get("errorMessage")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_succeeded_execution_is_its_output() {
        let output = json!({"answer": "30 days", "citations": []});
        assert_eq!(reply(Outcome::Succeeded(output.clone())).unwrap(), Reply::ok(output));
    }

    #[test]
    fn data_past_step_functions_bound_is_the_requests_to_change() {
        let error = failure("States.DataLimitExceeded", "Retrieve failed: The state returned a result too large");
        assert_eq!((error.name, error.step.as_deref()), (ErrorName::InvalidInput, Some("Retrieve")));
        assert_eq!(
            error.detail,
            "Retrieve failed: States.DataLimitExceeded: the step's data passed Step Functions' 256 KiB; \
             ask for fewer passages (top_k), or send a shorter question or instructions"
        );
    }

    #[test]
    fn a_function_error_names_its_step_and_keeps_its_message() {
        let cause = r#"Retrieve failed: {"errorType":"Seams.InvalidInput","errorMessage":"Seams.InvalidInput: top_k: must be 1 to 100"}"#;
        let error = failure("Seams.InvalidInput", cause);
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert_eq!(error.step.as_deref(), Some("Retrieve"));
        assert_eq!(error.detail, "Retrieve failed: Seams.InvalidInput: top_k: must be 1 to 100");
        let problem = error.to_problem(None);
        assert_eq!((problem.status, problem.step.as_deref()), (400, Some("Retrieve")));
    }

    #[test]
    fn errors_that_are_not_seams_names_are_transient_and_keep_the_name() {
        let error = failure("States.Timeout", "Infer failed: ");
        assert_eq!(error.name, ErrorName::Transient);
        assert_eq!(error.step.as_deref(), Some("Infer"));
        assert_eq!(error.detail, "Infer failed: States.Timeout: States.Timeout");
        let error = failure("Seams.ModelThrottled", "Infer failed: the provider said 429");
        assert_eq!((error.name, error.to_problem(None).status), (ErrorName::ModelThrottled, 429));
    }

    #[test]
    fn a_cause_without_a_step_is_kept_whole() {
        let error = failure("Lambda.Unknown", "the function crashed");
        assert_eq!((error.name, error.step), (ErrorName::Transient, None));
        assert_eq!(error.detail, "Lambda.Unknown: the function crashed");
    }

    /// A workflow that keeps the input it was started with.
    #[derive(Default)]
    struct Kept(std::sync::Mutex<Option<Value>>);

    #[async_trait]
    impl Workflow for Kept {
        async fn run(&self, input: Value) -> Result<Outcome, ServiceError> {
            *self.0.lock().unwrap() = Some(input);
            Ok(Outcome::TimedOut)
        }
    }

    /// `POST /answer` with `body`, served by a service over a workflow that keeps its input:
    /// the response, and the input an execution was started with, if one was.
    async fn post_answer(body: Value) -> (Value, Option<Value>) {
        let workflow = Arc::new(Kept::default());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(seams_platform::object_store::FsObjectStore::new(dir.path()));
        let service = Service::new(workflow.clone(), Sessions::new(store, Duration::from_secs(60)));
        let event = json!({"version": "2.0", "routeKey": "POST /answer", "rawPath": "/answer",
            "headers": {"content-type": "application/json"}, "requestContext": {"http": {"method": "POST",
            "path": "/answer"}, "requestId": "req-1"}, "body": body.to_string(), "isBase64Encoded": false});
        let response = seams_platform::function::handle(&service, event).await.unwrap();
        let started = workflow.0.lock().unwrap().clone();
        (response, started)
    }

    /// The problem a refused `POST /answer` answered with; no execution may have started.
    async fn refused(body: Value) -> Value {
        let (response, started) = post_answer(body).await;
        assert_eq!(response["statusCode"], 400, "{response}");
        assert!(started.is_none(), "no execution started: {started:?}");
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
    }

    /// The workflow's JSON merge keeps a given `null` over its default: a `null` request id
    /// reached Deliver as `null`, which output refused.
    #[tokio::test]
    async fn fields_given_as_null_are_left_for_the_workflows_defaults() {
        let body = json!({"question": "Refunds?", "destination": {"type": "http_response"},
            "request_id": null, "correlation_id": null, "top_k": null, "search_mode": null});
        let input = post_answer(body).await.1.unwrap();
        for unset in ["request_id", "top_k", "search_mode"] {
            assert!(input.get(unset).is_none(), "{unset} in {input}");
        }
        assert!(input["correlation_id"].is_string(), "the request's correlation id: {input}");
        assert_eq!(input["question"], "Refunds?");
    }

    /// A blank question started an execution that ran the guardrail and the rewrite before
    /// retrieve refused it; a question of 270 KB failed inside the workflow as a state too
    /// large, blamed on top_k.
    #[tokio::test]
    async fn a_blank_or_overlong_question_is_refused_before_an_execution_starts() {
        let blank = refused(json!({"question": " \n\t", "destination": {"type": "http_response"}})).await;
        assert_eq!((&blank["field"], &blank["detail"]), (&json!("question"), &json!("the question is empty")));
        let long = "é".repeat(MAX_QUESTION_CHARS + 1);
        let overlong = refused(json!({"question": long, "destination": {"type": "http_response"}})).await;
        assert_eq!(overlong["field"], "question", "{overlong}");
        let longest = json!({"question": "é".repeat(MAX_QUESTION_CHARS), "destination": {"type": "http_response"}});
        assert!(post_answer(longest).await.1.is_some(), "the longest question starts an execution");
    }

    #[test]
    fn a_timed_out_execution_is_transient() {
        assert_eq!(reply(Outcome::TimedOut).unwrap_err().name, ErrorName::Transient);
    }
}
