//! The `ModelProvider` seam: one call, prompt in, text out. Providers map their own
//! parameters, usage and errors onto these types; the service does everything else.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use seams_contracts::infer::{FinishReason, Usage};
use seams_contracts::ErrorName;
use seams_platform::ServiceError;

use crate::prompt::Prompt;

/// The generation parameters, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// The provider's model id (an alias already resolved).
    pub model: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Vec<String>,
    /// When set, the answer must be JSON satisfying this schema.
    pub response_schema: Option<serde_json::Value>,
}

/// A follow-up turn, for the structured-output repair attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// What the model answered before.
    pub previous: String,
    /// Why that was refused.
    pub problem: String,
}

/// The HTTP client of the providers reached over HTTPS, with the call's timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ProviderError::Unavailable(format!("cannot build the HTTP client: {e}")))
}

/// Who speaks a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    /// As the JSON chat APIs (OpenAI, Anthropic) write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// The turns after the system prompt, for every provider: the user's, and for a repair the
/// model's refused answer and why it was refused.
pub fn turns(prompt: &Prompt, repair: Option<&Repair>) -> Vec<(Role, String)> {
    let mut turns = vec![(Role::User, prompt.user.clone())];
    if let Some(repair) = repair {
        turns.push((Role::Assistant, repair.previous.clone()));
        turns.push((Role::User, repair_message(repair)));
    }
    turns
}

/// [`turns`] as JSON chat messages.
pub fn json_turns(prompt: &Prompt, repair: Option<&Repair>) -> Vec<serde_json::Value> {
    turns(prompt, repair)
        .into_iter()
        .map(|(role, content)| serde_json::json!({"role": role.as_str(), "content": content}))
        .collect()
}

/// The sampling fields the JSON chat APIs share, set on `body` when given; the stop
/// sequences go under `stop_field` (`stop` for OpenAI, `stop_sequences` for Anthropic).
pub fn set_sampling(body: &mut serde_json::Value, params: &Params, stop_field: &str) {
    if let Some(t) = params.temperature {
        body["temperature"] = serde_json::json!(t);
    }
    if let Some(p) = params.top_p {
        body["top_p"] = serde_json::json!(p);
    }
    if !params.stop.is_empty() {
        body[stop_field] = serde_json::json!(params.stop);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The answer; with a response schema, the JSON text.
    pub text: String,
    pub usage: Usage,
    pub finish_reason: FinishReason,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429, 529, ThrottlingException: retry later, with a longer backoff.
    #[error("the model provider is throttling or overloaded: {detail}")]
    Throttled { detail: String, retry_after: Option<Duration> },
    /// Timeouts, 5xx, no answer.
    #[error("the model provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request as invalid (400, ValidationException).
    #[error("the model provider refused the request: {0}")]
    Refused(String),
}

impl ProviderError {
    pub fn error_name(&self) -> ErrorName {
        match self {
            ProviderError::Throttled { .. } => ErrorName::ModelThrottled,
            ProviderError::Unavailable(_) => ErrorName::Transient,
            ProviderError::Refused(_) => ErrorName::InvalidInput,
        }
    }

    /// Classifies an HTTP status from a provider's API.
    pub fn from_status(status: u16, detail: String, retry_after: Option<Duration>) -> Self {
        match status {
            429 | 529 => ProviderError::Throttled { detail, retry_after },
            400 | 404 | 413 | 422 => ProviderError::Refused(detail),
            // 401/403 are the deployment's credentials, not the caller's input; 408 and 5xx pass.
            _ => ProviderError::Unavailable(detail),
        }
    }
}

impl From<ProviderError> for ServiceError {
    fn from(error: ProviderError) -> Self {
        ServiceError::new(error.error_name(), error.to_string())
    }
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of the answer's text.
    Delta(String),
    /// The answer is complete.
    Finished { usage: Usage, finish_reason: FinishReason },
}

pub type EventStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// `bedrock`, `openai`, `anthropic` or `offline`, as the response reports it.
    fn name(&self) -> &'static str;

    /// One completion. `repair`, when given, continues the conversation: the model's previous
    /// answer and why it was refused.
    async fn complete(
        &self,
        prompt: &Prompt,
        params: &Params,
        repair: Option<&Repair>,
    ) -> Result<Completion, ProviderError>;

    /// The answer as it is generated. An error before the first event (refused, throttled)
    /// is returned here, so the caller still gets a status code. Providers without a
    /// streaming API answer in one delta.
    async fn stream(&self, prompt: &Prompt, params: &Params) -> Result<EventStream, ProviderError> {
        let completion = self.complete(prompt, params, None).await?;
        let events = vec![
            Ok(StreamEvent::Delta(completion.text)),
            Ok(StreamEvent::Finished { usage: completion.usage, finish_reason: completion.finish_reason }),
        ];
        Ok(futures::stream::iter(events).boxed())
    }
}

/// The instruction every provider adds when the answer must follow a schema (Anthropic
/// also gets the schema as a tool, OpenAI as `response_format`).
pub fn schema_instruction(schema: &serde_json::Value) -> String {
    format!("Answer with one JSON value only, no prose and no code fence, valid against this JSON Schema:\n{schema}")
}

/// The follow-up message of a repair attempt.
pub fn repair_message(repair: &Repair) -> String {
    format!("Your answer was not valid: {}. Answer again with the corrected JSON value only.", repair.problem)
}
