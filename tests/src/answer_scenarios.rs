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
/// retrieve, infer, output and answer functions (ARNs on AWS).
pub fn answer_definition(functions: [&str; 4], failures_queue: &str, bus: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../statemachines/answer.asl.json"))
        .expect("statemachines/answer.asl.json");
    let [retrieve, infer, output, answer] = functions;
    let substitutions = [
        ("RetrieveFunctionArn", retrieve),
        ("InferFunctionArn", infer),
        ("OutputFunctionArn", output),
        ("AnswerFunctionArn", answer),
        ("FailuresQueueUrl", failures_queue),
        ("EventBusName", bus),
        ("NoContextAnswer", NO_CONTEXT),
        ("DefaultInstructions", INSTRUCTIONS),
        // Off by default: a scenario turns it on per request (`guardrail: true`).
        ("Guardrail", "off"),
        // Off by default too: a scenario asks per request (`decompose: true`).
        ("DecomposeQuestions", "off"),
        // No attributes declared: the caller's filters as sent.
        ("ImplicitFilters", "off"),
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

/// answer's session step result: the session and its turns.
pub fn session(id: &str, questions: &[&str]) -> Value {
    let turns: Vec<Value> = questions
        .iter()
        .map(|q| {
            json!({"question": q, "standalone_question": q, "answer": {"text": "Refunds take 14 days."},
                        "cited": ["refunds:1:0"]})
        })
        .collect();
    json!({"session_id": id, "turns": turns})
}

/// The turn recorded (what RecordTurn returns; the workflow keeps none of it).
pub fn recorded() -> Value {
    session("s-new", &[QUESTION])
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
        recorded(),
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
            recorded(),
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
        lambda_results: vec![retrieved(vec![]), recorded(), receipt("req-7", NO_CONTEXT, json!([]))],
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

pub const SESSION: &str = "s-7";
pub const FOLLOW_UP: &str = "And for digital products?";
pub const STANDALONE: &str = "And for digital products? (long refund take)";

/// A follow-up in a session: its history is loaded, the question rewritten, the turn added.
pub fn follow_up() -> Scenario {
    let mut input = question();
    input["question"] = json!(FOLLOW_UP);
    input["session_id"] = json!(SESSION);
    let digital = chunk("refunds:1:2", "refunds", "Refund policy", "https://intra/refunds", "Digital: 14 days.");
    let cited = json!([{"id": "refunds:1:2", "document_id": "refunds", "title": "Refund policy",
                        "source_uri": "https://intra/refunds"}]);
    Scenario {
        name: "follow-up in a session",
        input,
        lambda_results: vec![
            session(SESSION, &[QUESTION]),
            json!({"question": STANDALONE}),
            retrieved(vec![digital]),
            inferred("Digital products: 14 days [refunds:1:2].", &["refunds:1:2"]),
            session(SESSION, &[QUESTION, FOLLOW_UP]),
            receipt("req-7", "Digital products: 14 days [refunds:1:2].", cited),
        ],
    }
}

/// A session id that is unknown (or expired): nothing is retrieved, the caller gets a 404.
pub fn unknown_session() -> Scenario {
    let mut input = question();
    input["session_id"] = json!("s-gone");
    Scenario {
        name: "unknown session",
        input,
        lambda_results: vec![function_error("Seams.NotFound", "no session s-gone: it is unknown or has expired")],
    }
}

pub const COMPOUND: &str = "What is the refund window for digital products and how long does standard shipping take?";
pub const PARTS: [&str; 2] =
    ["What is the refund window for digital products?", "How long does standard shipping take?"];

/// A compound question, decomposed: a retrieval for each part, merged, answered once.
pub fn decomposed() -> Scenario {
    let mut input = question();
    input["question"] = json!(COMPOUND);
    input["decompose"] = json!(true);
    let refunds = chunk("refunds:1:2", "refunds", "Refund policy", "https://intra/refunds", "Digital: 14 days.");
    let shipping = chunk("shipping:1:0", "shipping", "Shipping", "https://intra/shipping", "Standard: 3 to 5 days.");
    let text = "Digital products: 14 days [refunds:1:2]. Standard shipping: 3 to 5 days [shipping:1:0].";
    let cited = json!([{"id": "refunds:1:2", "document_id": "refunds", "title": "Refund policy",
                        "source_uri": "https://intra/refunds"},
                       {"id": "shipping:1:0", "document_id": "shipping", "title": "Shipping",
                        "source_uri": "https://intra/shipping"}]);
    Scenario {
        name: "compound question decomposed",
        input,
        lambda_results: vec![
            json!({"questions": PARTS}),
            // The same results for each part: a Map may run its items in any order.
            retrieved(vec![refunds.clone(), shipping.clone()]),
            retrieved(vec![refunds.clone(), shipping.clone()]),
            json!({"results": [refunds, shipping]}),
            inferred(text, &["refunds:1:2", "shipping:1:0"]),
            recorded(),
            receipt("req-7", text, cited),
        ],
    }
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
        follow_up(),
        unknown_session(),
        decomposed(),
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
