//! The Anthropic Messages API. Structured output through a tool whose input schema is the
//! caller's `response_format`, with `tool_choice` forcing it: the tool's input is the answer.

use std::time::Duration;

use async_trait::async_trait;
use seams_contracts::infer::{FinishReason, Usage};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api_key::KeySource;
use crate::openai::{check_status, read_json};
use crate::prompt::Prompt;
use crate::provider::{
    http_client, json_turns, set_sampling, Completion, EventStream, ModelProvider, Params, ProviderError, Repair,
    StreamEvent,
};
use crate::stream::provider_stream;

pub const API_VERSION: &str = "2023-06-01";
const ANSWER_TOOL: &str = "answer";

pub struct AnthropicModel {
    client: reqwest::Client,
    /// `https://api.anthropic.com` unless overridden.
    base_url: String,
    api_key: KeySource,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    usage: MessagesUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessagesUsage {
    input_tokens: u32,
    output_tokens: u32,
}

impl AnthropicModel {
    pub fn new(base_url: &str, api_key: KeySource, timeout: Duration) -> Result<Self, ProviderError> {
        let client = http_client(timeout)?;
        Ok(Self { client, base_url: base_url.trim_end_matches('/').to_owned(), api_key })
    }

    /// The documented request body.
    pub fn body(prompt: &Prompt, params: &Params, repair: Option<&Repair>) -> Value {
        let messages = json_turns(prompt, repair);
        let mut body = json!({"model": params.model, "max_tokens": params.max_tokens, "system": prompt.system, "messages": messages});
        set_sampling(&mut body, params, "stop_sequences");
        if let Some(schema) = &params.response_schema {
            body["tools"] = json!([{"name": ANSWER_TOOL, "description": "Give the answer in the required structure.", "input_schema": schema}]);
            body["tool_choice"] = json!({"type": "tool", "name": ANSWER_TOOL});
        }
        body
    }
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens") => FinishReason::MaxTokens,
        Some("stop_sequence") => FinishReason::StopSequence,
        Some("tool_use") => FinishReason::ToolUse,
        Some("refusal") => FinishReason::ContentFiltered,
        _ => FinishReason::Stop,
    }
}

#[async_trait]
impl ModelProvider for AnthropicModel {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    async fn complete(
        &self,
        prompt: &Prompt,
        params: &Params,
        repair: Option<&Repair>,
    ) -> Result<Completion, ProviderError> {
        let response = self.send(Self::body(prompt, params, repair)).await?;
        let answer: MessagesResponse = read_json(response, "anthropic").await?;
        // With a schema the tool input is the answer; otherwise the text blocks are.
        let tool_input = answer.content.iter().find_map(|b| match b {
            Block::ToolUse { input } => Some(input.to_string()),
            _ => None,
        });
        let text = tool_input.unwrap_or_else(|| {
            answer
                .content
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("")
        });
        let finish = match (finish_reason(answer.stop_reason.as_deref()), params.response_schema.is_some()) {
            // The forced tool call is how a structured answer ends normally.
            (FinishReason::ToolUse, true) => FinishReason::Stop,
            (reason, _) => reason,
        };
        Ok(Completion {
            text,
            usage: Usage { input_tokens: answer.usage.input_tokens, output_tokens: answer.usage.output_tokens },
            finish_reason: finish,
        })
    }

    async fn stream(&self, prompt: &Prompt, params: &Params) -> Result<EventStream, ProviderError> {
        let mut body = Self::body(prompt, params, None);
        body["stream"] = json!(true);
        let response = self.send(body).await?;
        let state = (Usage::default(), FinishReason::Stop);
        Ok(provider_stream(response, "anthropic", state, |(usage, finish), _event, data| {
            let data = serde_json::from_str::<Value>(data).unwrap_or_default();
            match data["type"].as_str().unwrap_or_default() {
                "message_start" => {
                    usage.input_tokens = token_count(&data["message"]["usage"]["input_tokens"]);
                    Vec::new()
                }
                "content_block_delta" => match data["delta"]["text"].as_str() {
                    Some(text) => vec![Ok(StreamEvent::Delta(text.to_owned()))],
                    None => Vec::new(),
                },
                "message_delta" => {
                    *finish = finish_reason(data["delta"]["stop_reason"].as_str());
                    usage.output_tokens = token_count(&data["usage"]["output_tokens"]);
                    Vec::new()
                }
                "message_stop" => vec![Ok(StreamEvent::Finished { usage: *usage, finish_reason: *finish })],
                "error" => {
                    let kind = data["error"]["type"].as_str().unwrap_or_default();
                    let detail = format!("anthropic: {}", data["error"]["message"].as_str().unwrap_or(kind));
                    let status = match kind {
                        "overloaded_error" => 529,
                        "rate_limit_error" => 429,
                        _ => 500,
                    };
                    vec![Err(ProviderError::from_status(status, detail, None))]
                }
                _ => Vec::new(),
            }
        }))
    }
}

fn token_count(value: &Value) -> u32 {
    value.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_default()
}

impl AnthropicModel {
    async fn send(&self, body: Value) -> Result<reqwest::Response, ProviderError> {
        let response = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .header("x-api-key", self.api_key.key().await?)
            .header("anthropic-version", API_VERSION)
            .json(&body)
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("anthropic: {e}")))?;
        check_status(response, "anthropic").await
    }
}
