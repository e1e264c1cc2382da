//! Streamed answers for chat UIs: `POST /inference` with `"stream": true` on infer's function
//! URL (`InvokeMode: RESPONSE_STREAM`, binary `infer-stream`) answers with server-sent events:
//!
//! ```text
//! event: delta            data: {"text": "Digital products can be "}
//! event: done             data: <the InferenceResponse, output and citations complete>
//! event: error            data: <a problem document>   (a failure after the first byte)
//! ```
//!
//! Providers' own streams are read with `eventsource-stream` (OpenAI, Anthropic).

use std::time::Instant;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use seams_contracts::infer::{FinishReason, InferenceOutput, InferenceRequest, InferenceResponse, Usage};
use seams_contracts::{CorrelationId, V1};
use seams_platform::ServiceError;
use serde_json::json;

use crate::prompt::{cited_ids, Passage};
use crate::provider::{EventStream, ProviderError, StreamEvent};
use crate::Service;

/// One server-sent event.
pub fn frame(event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// A provider's server-sent events turned into answer events: `parse` sees each event's
/// name and data with its own state (usage, finish reason so far) and says what it means.
/// Transport and framing failures are `Unavailable`.
pub fn provider_stream<S, F>(response: reqwest::Response, provider: &'static str, state: S, mut parse: F) -> EventStream
where
    S: Send + 'static,
    F: FnMut(&mut S, &str, &str) -> Vec<Result<StreamEvent, ProviderError>> + Send + 'static,
{
    use eventsource_stream::Eventsource;
    response
        .bytes_stream()
        .eventsource()
        .scan(state, move |state, event| {
            let out = match event {
                Ok(event) => parse(state, &event.event, &event.data),
                Err(e) => vec![Err(ProviderError::Unavailable(format!("{provider}: stream broke: {e}")))],
            };
            futures::future::ready(Some(futures::stream::iter(out)))
        })
        .flatten()
        .boxed()
}

struct Answer {
    events: EventStream,
    request_id: String,
    model: String,
    provider: String,
    passages: Vec<Passage>,
    truncated: Vec<String>,
    text: String,
    started: Instant,
    correlation: CorrelationId,
    done: bool,
}

impl Answer {
    fn finish(&mut self, usage: Usage, finish_reason: FinishReason) -> Bytes {
        self.done = true;
        let response = InferenceResponse {
            schema_version: V1,
            request_id: self.request_id.clone(),
            output: InferenceOutput::Text(self.text.clone()),
            citations: cited_ids(&self.text, &self.passages),
            model: self.model.clone(),
            provider: self.provider.clone(),
            usage,
            finish_reason,
            latency_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            truncated_context: std::mem::take(&mut self.truncated),
        };
        frame("done", &serde_json::to_value(response).unwrap_or_default())
    }
}

impl Service {
    /// The answer as server-sent events. Bad input and errors before the first event are
    /// returned as errors (the caller answers with a problem and its status).
    pub async fn infer_stream(
        &self,
        request: &InferenceRequest,
        correlation: CorrelationId,
    ) -> Result<BoxStream<'static, Bytes>, ServiceError> {
        let started = Instant::now();
        let params = self.check(request)?;
        if params.response_schema.is_some() {
            return Err(ServiceError::invalid_input(
                "model_config.response_format",
                "structured answers are not streamed; ask without \"stream\"",
            ));
        }
        let prompt = self.prompt(request);
        let events = self.provider.stream(&prompt, &params).await?;
        let answer = Answer {
            events,
            request_id: request.request_id.clone(),
            model: self.model_name(&params),
            provider: self.provider.name().to_owned(),
            passages: prompt.passages,
            truncated: prompt.truncated,
            text: String::new(),
            started,
            correlation,
            done: false,
        };
        Ok(futures::stream::unfold(answer, |mut answer| async move {
            if answer.done {
                return None;
            }
            let frame = match answer.events.next().await {
                Some(Ok(StreamEvent::Delta(text))) => {
                    answer.text.push_str(&text);
                    frame("delta", &json!({"text": text}))
                }
                Some(Ok(StreamEvent::Finished { usage, finish_reason })) => answer.finish(usage, finish_reason),
                // A provider stream that ends without saying so: what arrived is the answer.
                None => answer.finish(Usage::default(), FinishReason::Stop),
                Some(Err(error)) => {
                    answer.done = true;
                    let problem = ServiceError::from(error).to_problem(Some(&answer.correlation));
                    frame("error", &serde_json::to_value(problem).unwrap_or_default())
                }
            };
            Some((frame, answer))
        })
        .boxed())
    }
}

/// A streamed HTTP answer: status, content type and body.
pub struct StreamedReply {
    pub status: u16,
    pub content_type: &'static str,
    pub correlation: CorrelationId,
    pub body: BoxStream<'static, Bytes>,
}

impl Service {
    /// Answers a function URL request: `text/event-stream` when the answer starts, else a
    /// problem document with its status (bad input 400, throttled 429, unavailable 503).
    pub async fn stream_http(&self, request: &aws_lambda_events::apigw::ApiGatewayV2httpRequest) -> StreamedReply {
        let correlation = seams_platform::http::correlation_id(request);
        let started = async {
            let body = seams_platform::http::body_bytes(request)?;
            let inference: InferenceRequest = seams_platform::error::parse_json(&body)?;
            self.infer_stream(&inference, correlation.clone()).await
        }
        .await;
        match started {
            Ok(body) => StreamedReply { status: 200, content_type: "text/event-stream", correlation, body },
            Err(error) => {
                tracing::warn!(error = error.name.as_str(), cause = %error.detail, "stream refused");
                let problem = serde_json::to_vec(&error.to_problem(Some(&correlation))).unwrap_or_default();
                StreamedReply {
                    status: error.name.http_status(),
                    content_type: "application/problem+json",
                    correlation,
                    body: futures::stream::once(async move { Bytes::from(problem) }).boxed(),
                }
            }
        }
    }
}
