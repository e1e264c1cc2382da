//! The shape of a multi-trigger function: requests parsed from HTTP or from other triggers,
//! served by one method, with errors answered at the edge as each caller expects.

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use seams_contracts::CorrelationId;
use serde_json::Value;
use tracing::Instrument;

use crate::error::ServiceError;
use crate::http;
use crate::logging::{correlation_span, invocation_scope, Invocation};
use crate::trigger::Trigger;

/// A successful outcome: the HTTP status (used only for HTTP triggers) and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// `body` encoded as the reply. An encoding failure is an error, never an empty body.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, body: &T) -> Result<Self, ServiceError> {
        let body = serde_json::to_value(body)
            .map_err(|e| ServiceError::transient(format!("could not encode the response: {e}")))?;
        Ok(Self { status, body })
    }

    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }
}

/// A request kind's stable name. Sample events are named `<trigger>-<name>.json`
/// (`events/ingest/http-post-documents.json`), and a test holds every sample to its name.
pub trait Named {
    fn name(&self) -> &'static str;
}

#[async_trait]
pub trait Function: Send + Sync {
    /// The service's name: the `service` dimension of its metrics.
    const SERVICE: &'static str;

    /// What the function was asked to do, whichever trigger asked.
    type Request: Named + Send;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Self::Request, ServiceError>;

    /// Any trigger but HTTP.
    fn from_trigger(trigger: Trigger) -> Result<Self::Request, ServiceError>;

    /// `correlation` comes from the HTTP request (`x-correlation-id`, else API Gateway's
    /// request id) or is new; a service may prefer one its request carries.
    async fn serve(&self, request: Self::Request, correlation: CorrelationId) -> Result<Reply, ServiceError>;
}

/// The request an event carries, for any trigger (used by tests and `seams invoke`).
pub fn parse<F: Function>(event: Value) -> Result<F::Request, ServiceError> {
    match Trigger::classify(event)? {
        Trigger::Http(request) => F::from_http(&request),
        trigger => F::from_trigger(trigger),
    }
}

/// One Lambda invocation. HTTP requests always get a response (errors as problem
/// documents); other triggers fail the invocation with a stable `Seams.*` error name, which
/// Step Functions' Retry/Catch match and async invokes send to the function's DLQ.
pub async fn handle<F: Function>(function: &F, event: Value) -> Result<Value, ServiceError> {
    crate::metrics::scope(F::SERVICE, handle_measured(function, event)).await
}

/// Parses and serves, recording `Requests` by kind and `Errors` by name.
async fn serve_measured<F: Function>(
    function: &F,
    request: Result<F::Request, ServiceError>,
    correlation: CorrelationId,
) -> Result<Reply, ServiceError> {
    let outcome = match request {
        Ok(request) => {
            crate::metrics::count("Requests", 1.0, Some(("request", request.name().to_owned())));
            function.serve(request, correlation).await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = &outcome {
        crate::metrics::count("Errors", 1.0, Some(("error", error.name.as_str().to_owned())));
    }
    outcome
}

async fn handle_measured<F: Function>(function: &F, event: Value) -> Result<Value, ServiceError> {
    match Trigger::classify(event)? {
        Trigger::Http(request) => {
            let correlation = http::correlation_id(&request);
            let outcome = serve_measured(function, F::from_http(&request), correlation.clone())
                .instrument(correlation_span(&correlation))
                .await
                .map(|reply| (reply.status, reply.body));
            serde_json::to_value(http::reply(outcome, &correlation))
                .map_err(|e| ServiceError::transient(format!("could not encode the response: {e}")))
        }
        trigger => {
            let correlation = carried_correlation(&trigger).unwrap_or_else(http::new_correlation_id);
            let span = correlation_span(&correlation);
            let outcome = serve_measured(function, F::from_trigger(trigger), correlation).instrument(span).await;
            if let Err(error) = &outcome {
                tracing::error!(error = error.name.as_str(), field = error.field.as_deref(), cause = %error.detail, "invocation failed");
            }
            outcome.map(|reply| reply.body)
        }
    }
}

/// A direct invoke's `correlation_id` field (the state machines pass the execution's).
fn carried_correlation(trigger: &Trigger) -> Option<CorrelationId> {
    match trigger {
        Trigger::Direct(payload) => payload
            .get("correlation_id")
            .and_then(Value::as_str)
            .filter(|id| !id.trim().is_empty())
            .map(CorrelationId::new),
        _ => None,
    }
}

/// Serves Lambda invocations with `function` until the runtime stops: all a multi-trigger
/// function's `main` does after building it.
pub async fn run<F: Function>(function: F) -> Result<(), lambda_runtime::Error> {
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation::from_context(&event.context);
        invocation_scope(invocation, handle(function, event.payload)).await.map_err(Diagnostic::from)
    }))
    .await
}

/// Serves Lambda invocations of any other event type with `handler` (SQS batches, the
/// gateway's HTTP events), each inside its invocation's log scope.
pub async fn run_events<E, R, H, Fut>(handler: H) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned + Send,
    R: serde::Serialize,
    H: Fn(E) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        let invocation = Invocation::from_context(&event.context);
        Ok::<_, lambda_runtime::Error>(invocation_scope(invocation, handler(event.payload)).await)
    }))
    .await
}
