//! The answer workflow's execution scenarios, shared by the moto tests
//! (tests/tests/state_machines.rs) and the local runner's cross-check against them: an input
//! and the results the Lambda tasks return, in order (a `{"errorType", "errorMessage"}`
//! result is a function error).

use serde_json::{json, Value};

pub const NO_CONTEXT: &str = "I could not find that in the documents.";
pub const QUESTION: &str = "How long do refunds take?";
pub const INSTRUCTIONS: &str = "Answer from the context only; cite the ids you use.";

pub struct Scenario {
    pub name: &'static str,
    pub input: Value,
    pub lambda_results: Vec<Value>,
}

/// statemachines/answer.asl.json with its substitutions filled; `functions` names the
/// retrieve, infer and output functions (ARNs on AWS).
pub fn answer_definition(functions: [&str; 3], failures_queue: &str, bus: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../statemachines/answer.asl.json"))
        .expect("statemachines/answer.asl.json");
    let [retrieve, infer, output] = functions;
    let substitutions = [
        ("RetrieveFunctionArn", retrieve),
        ("InferFunctionArn", infer),
        ("OutputFunctionArn", output),
        ("FailuresQueueUrl", failures_queue),
        ("EventBusName", bus),
        ("NoContextAnswer", NO_CONTEXT),
        ("DefaultInstructions", INSTRUCTIONS),
        // Off by default: a scenario turns it on per request (`guardrail: true`).
        ("Guardrail", "off"),
    ];
    let filled = substitutions.iter().fold(text, |text, (name, value)| text.replace(&format!("${{{name}}}"), value));
    assert!(!filled.contains("${"), "a substitution is missing: {filled}");
    filled
}

pub fn chunk(id: &str, document: &str, title: &str, uri: &str, text: &str) -> Value {
    json!({"document_id": document, "version": 1, "chunk_id": id, "text": text, "score": 0.03,
           "ranks": {"vector": 1, "keyword": 1}, "metadata": {"category": "policy"},
           "citation": {"source_uri": uri, "title": title, "heading_path": ["Refunds"]}})
}

pub fn retrieved(results: Vec<Value>) -> Value {
    json!({"schema_version": 1, "results": results, "search_mode": "hybrid",
           "embedding_model": "seams-hashing-384-v1"})
}

pub fn inferred(text: &str, citations: &[&str]) -> Value {
    json!({"schema_version": 1, "request_id": "r", "output": {"text": text}, "citations": citations,
           "model": "seams-offline-extractive-v2", "provider": "offline",
           "usage": {"input_tokens": 80, "output_tokens": 12}, "finish_reason": "stop", "latency_ms": 2,
           "truncated_context": []})
}

pub fn receipt(request_id: &str, body: &str, citations: Value) -> Value {
    json!({"schema_version": 1, "request_id": request_id, "destination": "http_response", "status": "delivered",
           "attempts": 1, "delivered_at": "2026-11-27T10:00:00Z", "body": body, "citations": citations})
}

pub fn function_error(name: &str, message: &str) -> Value {
    json!({"errorType": name, "errorMessage": message})
}

pub fn question() -> Value {
    json!({"request_id": "req-7", "correlation_id": "corr-7", "question": QUESTION, "top_k": 3,
           "filters": {"category": "policy"}, "destination": {"type": "http_response"}})
}

pub fn happy_results() -> Vec<Value> {
    let refunds = chunk("refunds:1:0", "refunds", "Refund policy", "https://intra/refunds", "Refunds take 14 days.");
    let cited = json!([{"id": "refunds:1:0", "document_id": "refunds", "title": "Refund policy",
                        "source_uri": "https://intra/refunds"}]);
    vec![
        retrieved(vec![refunds]),
        inferred("Refunds take 14 days [refunds:1:0].", &["refunds:1:0"]),
        receipt("req-7", "Refunds take 14 days [refunds:1:0].\n\nSources: Refund policy", cited),
    ]
}

pub fn verdict(action: &str, content: Value, policies: &[&str]) -> Value {
    json!({"schema_version": 1, "action": action, "content": content, "policies": policies, "guardrail": "offline"})
}

/// The question, asking for the guardrail.
pub fn guarded_question(question: &str) -> Value {
    let mut input = self::question();
    input["question"] = json!(question);
    input["guardrail"] = json!(true);
    input
}

pub const QUESTION_WITH_EMAIL: &str = "How long do refunds take? Reply to jane@example.com";
pub const QUESTION_MASKED: &str = "How long do refunds take? Reply to {EMAIL}";

/// The guardrail masks an email in the question and a phone number in the answer.
pub fn guarded_and_masked() -> Scenario {
    let refunds = chunk("refunds:1:0", "refunds", "Refund policy", "https://intra/refunds", "Refunds take 14 days.");
    let cited = json!([{"id": "refunds:1:0", "document_id": "refunds", "title": "Refund policy",
                        "source_uri": "https://intra/refunds"}]);
    let masked_answer = "Refunds take 14 days; call {PHONE} [refunds:1:0].";
    Scenario {
        name: "guardrail masks",
        input: guarded_question(QUESTION_WITH_EMAIL),
        lambda_results: vec![
            verdict("masked", json!({"text": QUESTION_MASKED}), &["pii.email"]),
            retrieved(vec![refunds]),
            inferred("Refunds take 14 days; call 555-123-4567 [refunds:1:0].", &["refunds:1:0"]),
            verdict("masked", json!({"text": masked_answer}), &["pii.phone"]),
            receipt("req-7", masked_answer, cited),
        ],
    }
}

pub const BLOCKED: &str = "the question was blocked by the offline guardrail: pii.email";

/// The guardrail blocks the question: nothing is retrieved, inferred or delivered.
pub fn guarded_and_blocked() -> Scenario {
    Scenario {
        name: "guardrail blocks",
        input: guarded_question(QUESTION_WITH_EMAIL),
        lambda_results: vec![function_error("Seams.GuardrailIntervened", BLOCKED)],
    }
}

pub fn happy_path() -> Scenario {
    Scenario { name: "happy path", input: question(), lambda_results: happy_results() }
}

pub fn transient_then_success() -> Scenario {
    let mut lambda_results = vec![function_error("Seams.Transient", "the index is reloading")];
    lambda_results.extend(happy_results());
    Scenario { name: "transient error, retried", input: question(), lambda_results }
}

pub fn invalid_input() -> Scenario {
    Scenario {
        name: "invalid input, caught",
        input: question(),
        lambda_results: vec![function_error("Seams.InvalidInput", "top_k: must be 1 to 100")],
    }
}

pub fn no_context() -> Scenario {
    Scenario {
        name: "nothing retrieved",
        input: question(),
        lambda_results: vec![retrieved(vec![]), receipt("req-7", NO_CONTEXT, json!([]))],
    }
}

pub fn no_question() -> Scenario {
    Scenario {
        name: "no question",
        input: json!({"request_id": "req-8", "destination": {"type": "http_response"}}),
        lambda_results: vec![],
    }
}

/// An upstream `QuestionAsked` that sends its optional fields as null: the defaults apply.
pub fn null_optional_fields() -> Scenario {
    let mut input = question();
    for field in ["top_k", "search_mode", "rerank", "instructions", "guardrail", "filters", "tenant"] {
        input[field] = Value::Null;
    }
    Scenario { name: "optional fields null", input, lambda_results: happy_results() }
}

pub fn all() -> Vec<Scenario> {
    vec![
        happy_path(),
        null_optional_fields(),
        transient_then_success(),
        invalid_input(),
        no_context(),
        no_question(),
        guarded_and_masked(),
        guarded_and_blocked(),
    ]
}

/// How Lambda reports a function error to Step Functions: the error name, and the payload as
/// the cause (`errorType` first, compact).
pub fn function_error_cause(result: &Value) -> Option<(String, String)> {
    let object = result.as_object().filter(|o| o.len() == 2)?;
    let (name, message) = (object.get("errorType")?.as_str()?, object.get("errorMessage")?.as_str()?);
    let cause = format!(r#"{{"errorType":{},"errorMessage":{}}}"#, json!(name), json!(message));
    Some((name.to_owned(), cause))
}
