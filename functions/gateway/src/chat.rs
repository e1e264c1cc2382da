//! OpenAI's chat completions API over the answer workflow: model `seams`, the last user
//! message is the question, the earlier turns and system messages reach the model as
//! instructions, and the answer comes back as a standard chat completion (or its
//! `chat.completion.chunk` stream) with its sources numbered in the text and listed in an
//! extra `citations` field. Pure: requests in, the answer workflow's request and the wire
//! bodies out.

use seams_contracts::answer::{AnswerRequest, AnswerResponse};
use seams_contracts::output::{CitedSource, Destination};
use seams_contracts::retrieve::Filter;
use seams_contracts::{Problem, V1};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::mcp::answer_with_sources;

/// The one model: the answer workflow.
pub const MODEL: &str = "seams";

/// Parameters accepted and ignored: they tune sampling or bookkeeping, which the answer
/// workflow's own model configuration decides.
const IGNORED: [&str; 11] = [
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "user",
    "stream_options",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "metadata",
    "store",
];

/// How many earlier turns reach the model, newest kept.
const HISTORY_TURNS: usize = 10;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: bool,
    /// `n`: only one choice is ever made.
    #[serde(default)]
    pub n: Option<u32>,
    /// seams' extension (`extra_body` in the OpenAI clients): filters as `POST /retrieve` takes them.
    #[serde(default)]
    pub filters: Option<Filter>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// An OpenAI error body (`{"error": {message, type, param, code}}`) and its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatError {
    #[serde(skip)]
    pub status: u16,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ChatError {
    fn invalid(param: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param.to_owned()),
            code: Some(code.to_owned()),
        }
    }

    /// The answer workflow's problem in OpenAI's terms: its status, its detail, its error name.
    pub fn from_problem(problem: &Problem) -> Self {
        let kind = match problem.status {
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        };
        Self {
            status: problem.status,
            message: problem.detail.clone(),
            kind,
            param: problem.field.clone(),
            code: Some(problem.error.as_str().to_owned()),
        }
    }

    pub fn body(&self) -> Value {
        json!({ "error": self })
    }
}

impl MessageContent {
    fn text(&self, index: usize) -> Result<String, ChatError> {
        match self {
            MessageContent::Text(text) => Ok(text.clone()),
            MessageContent::Parts(parts) => parts
                .iter()
                .map(|part| match (part.kind.as_str(), &part.text) {
                    ("text", Some(text)) => Ok(text.clone()),
                    (kind, _) => Err(ChatError::invalid(
                        &format!("messages[{index}].content"),
                        "unsupported_content",
                        format!("only text content is supported, not {kind}"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("\n")),
        }
    }
}

/// The answer workflow's request for a chat request, or the error OpenAI's API would give.
pub fn answer_request(request: ChatRequest) -> Result<AnswerRequest, ChatError> {
    if request.model != MODEL {
        return Err(ChatError {
            status: 404,
            message: format!("The model `{}` does not exist; the only model is `{MODEL}`.", request.model),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found".into()),
        });
    }
    if let Some(name) = request.other.keys().find(|name| !IGNORED.contains(&name.as_str())) {
        return Err(ChatError::invalid(name, "unsupported_parameter", format!("`{name}` is not supported by seams")));
    }
    if request.n.is_some_and(|n| n != 1) {
        return Err(ChatError::invalid("n", "unsupported_parameter", "only one choice (n = 1) is made"));
    }
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        let text = match &message.content {
            Some(content) => content.text(index)?,
            None => String::new(),
        };
        match message.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" | "assistant" => turns.push((message.role.as_str(), text)),
            other => {
                return Err(ChatError::invalid(
                    &format!("messages[{index}].role"),
                    "unsupported_role",
                    format!("`{other}` messages are not supported (system, developer, user, assistant)"),
                ))
            }
        }
    }
    let question = match turns.pop() {
        Some(("user", text)) if !text.trim().is_empty() => text,
        _ => {
            return Err(ChatError::invalid(
                "messages",
                "invalid_messages",
                "the last message must be a user message with text",
            ))
        }
    };
    let earlier = &turns[turns.len().saturating_sub(HISTORY_TURNS)..];
    let mut instructions = system.join("\n\n");
    if !earlier.is_empty() {
        let history: Vec<String> = earlier.iter().map(|(role, text)| format!("{role}: {text}")).collect();
        if !instructions.is_empty() {
            instructions.push_str("\n\n");
        }
        instructions.push_str("The conversation so far:\n");
        instructions.push_str(&history.join("\n"));
    }
    Ok(AnswerRequest {
        schema_version: V1,
        request_id: None,
        correlation_id: None,
        question,
        // The messages carry the conversation (OpenAI's chat API keeps no session).
        session_id: None,
        filters: request.filters,
        top_k: None,
        search_mode: None,
        rerank: None,
        decompose: None,
        instructions: (!instructions.is_empty()).then_some(instructions),
        // The deployment's guardrail applies (SEAMS_GUARDRAIL).
        guardrail: None,
        destination: Destination::HttpResponse,
        // The route decides from the caller's token.
        tenant: None,
    })
}

/// The assistant message: the answer, then its sources numbered as the citations are.
fn content(response: &AnswerResponse) -> String {
    answer_with_sources(&response.answer, &response.citations)
}

/// `citations` with the number each has in the text.
fn citations(citations: &[CitedSource]) -> Vec<Value> {
    (1..)
        .zip(citations)
        .map(|(index, source)| {
            let mut value = serde_json::to_value(source).unwrap_or_default();
            value["index"] = json!(index);
            value
        })
        .collect()
}

/// A `chat.completion`.
pub fn completion(response: &AnswerResponse, created: i64) -> Value {
    json!({
        "id": format!("chatcmpl-{}", response.request_id),
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content(response)},
            "finish_reason": "stop", "logprobs": null}],
        "citations": citations(&response.citations),
    })
}

/// The `chat.completion.chunk` event stream of an answer: the role, the content a few words
/// at a time, the finish with the citations, then `[DONE]`.
pub fn completion_stream(response: &AnswerResponse, created: i64) -> String {
    let id = format!("chatcmpl-{}", response.request_id);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]})
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    let text = content(response);
    let words: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    for piece in words.chunks(8) {
        frames.push(chunk(json!({"content": piece.concat()}), Value::Null));
    }
    let mut last = chunk(json!({}), json!("stop"));
    last["citations"] = json!(citations(&response.citations));
    frames.push(last);
    let mut body: String = frames.iter().map(|frame| format!("data: {frame}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// `GET /v1/models`.
pub fn models() -> Value {
    json!({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "seams"}]})
}

#[cfg(test)]
mod tests {
    use seams_contracts::infer::InferenceOutput;
    use seams_contracts::output::{DeliveryReceipt, DeliveryStatus};
    use seams_contracts::ErrorName;

    use super::*;

    fn request(body: Value) -> Result<AnswerRequest, ChatError> {
        answer_request(serde_json::from_value(body).unwrap())
    }

    fn answered() -> AnswerResponse {
        AnswerResponse {
            request_id: "r-1".into(),
            session_id: "s-1".into(),
            correlation_id: None,
            answer: InferenceOutput::Text("Refunds take 14 days [c1].".into()),
            citations: vec![CitedSource {
                id: "c1".into(),
                document_id: Some("refunds".into()),
                title: Some("Refund policy".into()),
                source_uri: Some("https://example.com/refunds".into()),
                spans: Vec::new(),
            }],
            model: "offline".into(),
            delivery: DeliveryReceipt {
                schema_version: V1,
                request_id: "r-1".into(),
                destination: "http_response".into(),
                status: DeliveryStatus::Delivered,
                attempts: 1,
                delivered_at: None,
                provider_message_id: None,
                body: None,
                citations: vec![],
            },
        }
    }

    #[test]
    fn the_last_user_message_is_the_question_and_the_rest_is_context() {
        let answer = request(json!({"model": "seams", "temperature": 0.2, "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What about refunds?"},
            {"role": "assistant", "content": "Refunds take 14 days."},
            {"role": "user", "content": [{"type": "text", "text": "and for digital ones?"}]}]}))
        .unwrap();
        assert_eq!(answer.question, "and for digital ones?");
        let instructions = answer.instructions.unwrap();
        assert!(instructions.starts_with("Answer briefly."), "{instructions}");
        assert!(instructions.contains("user: What about refunds?\nassistant: Refunds take 14 days."));
        assert_eq!(answer.destination, Destination::HttpResponse);
    }

    #[test]
    fn openai_errors_for_what_seams_cannot_do() {
        let error = request(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "q"}]})).unwrap_err();
        assert_eq!((error.status, error.code.as_deref()), (404, Some("model_not_found")));
        let error = request(json!({"model": "seams", "messages": []})).unwrap_err();
        assert_eq!((error.status, error.param.as_deref()), (400, Some("messages")));
        let error =
            request(json!({"model": "seams", "messages": [{"role": "assistant", "content": "hi"}]})).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("invalid_messages"));
        let error = request(json!({"model": "seams", "tools": [], "messages": [{"role": "user", "content": "q"}]}))
            .unwrap_err();
        assert_eq!((error.param.as_deref(), error.code.as_deref()), (Some("tools"), Some("unsupported_parameter")));
        let error =
            request(json!({"model": "seams", "n": 2, "messages": [{"role": "user", "content": "q"}]})).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("n"));
        let image = json!([{"type": "image_url", "image_url": {"url": "x"}}]);
        let error = request(json!({"model": "seams", "messages": [{"role": "user", "content": image}]})).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("messages[0].content"));
        assert_eq!(error.body()["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn a_workflow_problem_keeps_its_status_and_name() {
        let error = ChatError::from_problem(&Problem::new(ErrorName::ModelThrottled, "slow down"));
        assert_eq!(
            (error.status, error.kind, error.code.as_deref()),
            (429, "rate_limit_error", Some("Seams.ModelThrottled"))
        );
        assert_eq!(ChatError::from_problem(&Problem::new(ErrorName::Transient, "x")).kind, "server_error");
    }

    #[test]
    fn a_completion_numbers_its_sources_in_the_text_and_the_citations() {
        let completion = completion(&answered(), 7);
        let content = completion["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content, "Refunds take 14 days [1].\n\nSources:\n[1] Refund policy (https://example.com/refunds)");
        assert_eq!(completion["citations"][0]["index"], 1);
        assert_eq!(completion["citations"][0]["document_id"], "refunds");
        assert_eq!(completion["object"], "chat.completion");
    }

    #[test]
    fn the_stream_reassembles_to_the_completion_and_ends_with_done() {
        let stream = completion_stream(&answered(), 7);
        assert!(stream.ends_with("data: [DONE]\n\n"));
        let frames: Vec<Value> = stream
            .split("\n\n")
            .filter_map(|frame| frame.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        let text: String = frames.iter().filter_map(|f| f["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, completion(&answered(), 7)["choices"][0]["message"]["content"]);
        assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
        let last = frames.last().unwrap();
        assert_eq!(
            (last["choices"][0]["finish_reason"].as_str(), &last["citations"][0]["index"]),
            (Some("stop"), &json!(1))
        );
        assert!(frames.iter().all(|f| f["object"] == "chat.completion.chunk"));
    }
}
