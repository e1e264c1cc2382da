//! Amazon Bedrock's Converse API: one request shape for every chat model on Bedrock (Claude,
//! Llama, Mistral, Nova, …). The SDK's own retries are off: throttling surfaces as
//! `Seams.ModelThrottled` for the state machine to back off on, and the operation timeout
//! stays below the function's. Streams come from ConverseStream.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput, InferenceConfiguration,
    Message, StopReason, SystemContentBlock, TokenUsage,
};
use futures::StreamExt;
use seams_contracts::infer::{FinishReason, Usage};

use crate::prompt::Prompt;
use crate::provider::{
    schema_instruction, turns, Completion, EventStream, ModelProvider, Params, ProviderError, Repair, Role, StreamEvent,
};

pub struct BedrockModel {
    client: aws_sdk_bedrockruntime::Client,
}

impl BedrockModel {
    pub fn new(sdk: &aws_config::SdkConfig, timeout: Duration) -> Self {
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_bedrockruntime::config::timeout::TimeoutConfig::builder().operation_timeout(timeout).build(),
            )
            .interceptor(seams_platform::xray::Subsegments::from_env())
            .build();
        Self { client: aws_sdk_bedrockruntime::Client::from_conf(config) }
    }
}

fn message(role: ConversationRole, text: String) -> Result<Message, ProviderError> {
    Message::builder()
        .role(role)
        .content(ContentBlock::Text(text))
        .build()
        .map_err(|e| ProviderError::Refused(e.to_string()))
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> ProviderError {
    let code = error.code().unwrap_or_default().to_owned();
    let detail = format!("bedrock: {}", DisplayErrorContext(&error));
    match code.as_str() {
        "ThrottlingException" | "ServiceQuotaExceededException" => {
            ProviderError::Throttled { detail, retry_after: None }
        }
        "ValidationException" | "ResourceNotFoundException" => ProviderError::Refused(detail),
        // Timeouts, 5xx, model not ready, access denied (the deployment's, not the caller's).
        _ => ProviderError::Unavailable(detail),
    }
}

fn usage(counted: &TokenUsage) -> Usage {
    Usage {
        input_tokens: u32::try_from(counted.input_tokens()).unwrap_or_default(),
        output_tokens: u32::try_from(counted.output_tokens()).unwrap_or_default(),
    }
}

fn finish_reason(reason: &StopReason) -> FinishReason {
    match reason {
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => FinishReason::MaxTokens,
        StopReason::StopSequence => FinishReason::StopSequence,
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => FinishReason::ContentFiltered,
        StopReason::ToolUse => FinishReason::ToolUse,
        _ => FinishReason::Stop,
    }
}

#[async_trait]
impl ModelProvider for BedrockModel {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn complete(
        &self,
        prompt: &Prompt,
        params: &Params,
        repair: Option<&Repair>,
    ) -> Result<Completion, ProviderError> {
        let (system, messages, config) = conversation(prompt, params, repair)?;
        let request = self
            .client
            .converse()
            .model_id(&params.model)
            .system(system)
            .set_messages(Some(messages))
            .inference_config(config);
        let answer = request.send().await.map_err(classify)?;
        let text = match answer.output() {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| block.as_text().ok().map(String::as_str))
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        let usage = answer.usage().map_or_else(Usage::default, usage);
        Ok(Completion { text, usage, finish_reason: finish_reason(answer.stop_reason()) })
    }

    /// ConverseStream: text deltas as the model writes, usage from the closing metadata.
    async fn stream(&self, prompt: &Prompt, params: &Params) -> Result<EventStream, ProviderError> {
        let (system, messages, config) = conversation(prompt, params, None)?;
        let output = self
            .client
            .converse_stream()
            .model_id(&params.model)
            .system(system)
            .set_messages(Some(messages))
            .inference_config(config)
            .send()
            .await
            .map_err(classify)?;
        let state = (output.stream, Usage::default(), FinishReason::Stop, false);
        let events = futures::stream::unfold(state, |(mut receiver, mut usage, mut finish, done)| async move {
            if done {
                return None;
            }
            loop {
                match receiver.recv().await {
                    Ok(Some(ConverseStreamOutput::ContentBlockDelta(event))) => {
                        if let Some(ContentBlockDelta::Text(text)) = event.delta() {
                            return Some((Ok(StreamEvent::Delta(text.clone())), (receiver, usage, finish, false)));
                        }
                    }
                    Ok(Some(ConverseStreamOutput::MessageStop(event))) => finish = finish_reason(event.stop_reason()),
                    Ok(Some(ConverseStreamOutput::Metadata(event))) => {
                        if let Some(counted) = event.usage() {
                            usage = self::usage(counted);
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        let finished = StreamEvent::Finished { usage, finish_reason: finish };
                        return Some((Ok(finished), (receiver, usage, finish, true)));
                    }
                    Err(error) => return Some((Err(classify(error)), (receiver, usage, finish, true))),
                }
            }
        });
        Ok(events.boxed())
    }
}

/// The system prompt, the turns and the inference configuration, for either API.
fn conversation(
    prompt: &Prompt,
    params: &Params,
    repair: Option<&Repair>,
) -> Result<(SystemContentBlock, Vec<Message>, InferenceConfiguration), ProviderError> {
    let mut system = prompt.system.clone();
    if let Some(schema) = &params.response_schema {
        system = format!("{system}\n\n{}", schema_instruction(schema));
    }
    let config = InferenceConfiguration::builder()
        .max_tokens(i32::try_from(params.max_tokens).unwrap_or(i32::MAX))
        .set_temperature(params.temperature)
        .set_top_p(params.top_p)
        .set_stop_sequences((!params.stop.is_empty()).then(|| params.stop.clone()))
        .build();
    let messages = turns(prompt, repair)
        .into_iter()
        .map(|(role, text)| match role {
            Role::User => message(ConversationRole::User, text),
            Role::Assistant => message(ConversationRole::Assistant, text),
        })
        .collect::<Result<_, _>>()?;
    Ok((SystemContentBlock::Text(system), messages, config))
}
