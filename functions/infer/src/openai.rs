//! Any OpenAI-compatible `/chat/completions` endpoint (OpenAI, Azure-style gateways, vLLM,
//! Ollama, LiteLLM). Structured output through `response_format: json_schema`.

use std::time::Duration;

use async_trait::async_trait;
use seams_contracts::infer::{FinishReason, Usage};
use seams_platform::retry::Refusal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api_key::KeySource;
use crate::prompt::Prompt;
use crate::provider::{
    http_client, json_turns, schema_instruction, set_sampling, Completion, EventStream, ModelProvider, Params,
    ProviderError, Repair, StreamEvent,
};
use crate::stream::provider_stream;

pub struct OpenAiModel {
    client: reqwest::Client,
    /// Up to and including `/v1`.
    base_url: String,
    api_key: Option<KeySource>,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl OpenAiModel {
    pub fn new(base_url: &str, api_key: Option<KeySource>, timeout: Duration) -> Result<Self, ProviderError> {
        let client = http_client(timeout)?;
        Ok(Self { client, base_url: base_url.trim_end_matches('/').to_owned(), api_key })
    }

    /// The documented request body.
    pub fn body(prompt: &Prompt, params: &Params, repair: Option<&Repair>) -> Value {
        let mut messages = vec![json!({"role": "system", "content": prompt.system})];
        messages.extend(json_turns(prompt, repair));
        let mut body = json!({"model": params.model, "messages": messages, "max_tokens": params.max_tokens});
        set_sampling(&mut body, params, "stop");
        if let Some(schema) = &params.response_schema {
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}});
            // Servers without json_schema support still read the instruction.
            body["messages"][0]["content"] = json!(format!("{}\n\n{}", prompt.system, schema_instruction(schema)));
        }
        body
    }
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("length") => FinishReason::MaxTokens,
        Some("content_filter") => FinishReason::ContentFiltered,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolUse,
        _ => FinishReason::Stop,
    }
}

/// The provider's own error message, when its body has one.
pub fn error_detail(provider: &str, status: u16, body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().or(v["message"].as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    format!("{provider} answered {status}: {message}")
}

#[async_trait]
impl ModelProvider for OpenAiModel {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn complete(
        &self,
        prompt: &Prompt,
        params: &Params,
        repair: Option<&Repair>,
    ) -> Result<Completion, ProviderError> {
        let answer: ChatResponse = read_json(self.send(Self::body(prompt, params, repair)).await?, "openai").await?;
        let choice =
            answer.choices.into_iter().next().ok_or_else(|| ProviderError::Unavailable("openai: no choices".into()))?;
        let usage = answer.usage.map_or_else(Usage::default, |u| Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        });
        Ok(Completion {
            text: choice.message.content.unwrap_or_default(),
            usage,
            finish_reason: finish_reason(choice.finish_reason.as_deref()),
        })
    }

    async fn stream(&self, prompt: &Prompt, params: &Params) -> Result<EventStream, ProviderError> {
        let mut body = Self::body(prompt, params, None);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let response = self.send(body).await?;
        let state = (Usage::default(), FinishReason::Stop);
        Ok(provider_stream(response, "openai", state, |(usage, finish), _event, data| {
            if data.trim() == "[DONE]" {
                return vec![Ok(StreamEvent::Finished { usage: *usage, finish_reason: *finish })];
            }
            let chunk = match serde_json::from_str::<Value>(data) {
                Ok(chunk) => chunk,
                Err(e) => {
                    return vec![Err(ProviderError::Unavailable(format!("openai: unexpected stream chunk ({e})")))]
                }
            };
            if let Some(reason) = chunk["choices"][0]["finish_reason"].as_str() {
                *finish = finish_reason(Some(reason));
            }
            if let Ok(u) = serde_json::from_value::<ChatUsage>(chunk["usage"].clone()) {
                *usage = Usage { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens };
            }
            match chunk["choices"][0]["delta"]["content"].as_str() {
                Some(text) if !text.is_empty() => vec![Ok(StreamEvent::Delta(text.to_owned()))],
                _ => Vec::new(),
            }
        }))
    }
}

impl OpenAiModel {
    /// Posts a body; a non-2xx answer becomes the error its status means.
    async fn send(&self, body: Value) -> Result<reqwest::Response, ProviderError> {
        let url = format!("{}/chat/completions", self.base_url);
        let mut request = self.client.post(&url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.key().await?);
        }
        let response = seams_platform::xray::send(request)
            .await
            .map_err(|e| ProviderError::Unavailable(format!("openai: {e}")))?;
        check_status(response, "openai").await
    }
}

/// The response if its status is 2xx; else the error the status means, with the
/// provider's message and `Retry-After`.
/// A successful answer's body as `T`; anything else is the provider being unavailable.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    provider: &str,
) -> Result<T, ProviderError> {
    let body = response.text().await.map_err(|e| ProviderError::Unavailable(format!("{provider}: {e}")))?;
    serde_json::from_str(&body)
        .map_err(|e| ProviderError::Unavailable(format!("{provider}: unexpected response ({e})")))
}

pub async fn check_status(response: reqwest::Response, provider: &str) -> Result<reqwest::Response, ProviderError> {
    if response.status().is_success() {
        return Ok(response);
    }
    // A provider's error is a small JSON object; an HTML page from a proxy is cut.
    let refusal = Refusal::read(response, 16 * 1024).await;
    let detail = error_detail(provider, refusal.status, &refusal.body);
    Err(ProviderError::from_status(refusal.status, detail, refusal.retry_after))
}
