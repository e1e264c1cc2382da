//! Conversations through `POST /answer` on the whole local stack (offline model, local
//! embedder, the example corpus): a session's follow-ups are rewritten from its turns and
//! answered from the right document; unknown sessions are a 404 problem; turns asked at once
//! are all kept.

use std::sync::Arc;

use seams::commands;
use seams::LocalStack;
use seams_platform::function;
use seams_platform::proxy::{RouteRequest, RouteResponse};
use serde_json::{json, Value};

async fn stack() -> (tempfile::TempDir, Arc<LocalStack>) {
    let data = tempfile::tempdir().unwrap();
    let stack = LocalStack::configured(data.path(), Default::default()).await.unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs").to_owned();
    let summary = commands::ingest_files(&stack, &[examples], |_, _, _| {}).await;
    assert!(summary.rejected.is_empty() && summary.failed_downstream.is_empty(), "{summary:?}");
    (data, Arc::new(stack))
}

/// `POST /answer` with `question`, in `session` when given: the status and the body.
async fn ask(stack: &Arc<LocalStack>, question: &str, session: Option<&str>) -> (u16, Value) {
    let mut body = json!({"question": question, "destination": {"type": "http_response"}});
    if let Some(session) = session {
        body["session_id"] = json!(session);
    }
    let request = RouteRequest::new("POST", "/answer").json(&body);
    let (route, parameters) = request.route().unwrap();
    let event = request.event(&route, &parameters, "req-session");
    let service = seams::workflow::answer_service(stack);
    let response = RouteResponse::from_proxy(&function::handle(&service, event).await.unwrap());
    (response.status, serde_json::from_slice(&response.body).unwrap())
}

/// The source of each citation of an answer.
fn cited_sources(answer: &Value) -> Vec<String> {
    let citations = answer["citations"].as_array().cloned().unwrap_or_default();
    citations.iter().map(|c| c["source_uri"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Whether the answer's first (best-supported) citation is `document`.
fn cites(answer: &Value, document: &str) -> bool {
    cited_sources(answer).first().is_some_and(|source| source.ends_with(document))
}

/// Five turns, the last four follow-ups that name neither their subject nor its document:
/// and the document each answer must cite first.
const CONVERSATION: [(&str, &str); 5] = [
    ("How quickly must the on-call engineer acknowledge a page?", "on-call.md"),
    ("And if they miss it?", "on-call.md"),
    ("How long is a shift?", "on-call.md"),
    ("Are they paid extra for it?", "on-call.md"),
    ("Who do they escalate to?", "on-call.md"),
];

#[tokio::test]
async fn a_five_turn_conversation_cites_the_right_document_at_every_turn() {
    let (_data, stack) = stack().await;
    let mut session: Option<String> = None;
    for (turn, (question, document)) in CONVERSATION.iter().enumerate() {
        let (status, answer) = ask(&stack, question, session.as_deref()).await;
        assert_eq!(status, 200, "turn {}: {answer}", turn + 1);
        assert!(
            cites(&answer, document),
            "turn {} ({question}) cites {:?}, not {document}",
            turn + 1,
            cited_sources(&answer)
        );
        let id = answer["session_id"].as_str().unwrap().to_owned();
        if let Some(session) = &session {
            assert_eq!(&id, session, "turn {} stays in its session", turn + 1);
        }
        session = Some(id);
    }
    let load = json!({"session": {"step": "load", "session_id": session.unwrap()}});
    let history = seams::invoke(&stack, "answer", load).await.unwrap();
    let turns = history["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 5);
    assert_eq!(turns[1]["question"], "And if they miss it?");
    let standalone = turns[1]["standalone_question"].as_str().unwrap();
    assert!(standalone.contains("engineer acknowledge page"), "the follow-up carried its subject: {standalone}");
}

/// Without the session, most of the same follow-ups miss: what the session is for.
#[tokio::test]
async fn the_follow_ups_asked_alone_mostly_miss_their_document() {
    let (_data, stack) = stack().await;
    let mut missed = 0;
    for (question, document) in &CONVERSATION[1..] {
        let (status, answer) = ask(&stack, question, None).await;
        assert_eq!(status, 200, "{answer}");
        eprintln!("alone: {question:?} cites {:?} (wanted {document})", cited_sources(&answer));
        missed += usize::from(!cites(&answer, document));
    }
    assert!(missed >= 3, "{missed} of 4 missed: the follow-ups barely need the conversation");
}

#[tokio::test]
async fn an_unknown_session_is_a_404_problem_naming_the_step() {
    let (_data, stack) = stack().await;
    let (status, problem) = ask(&stack, "And for digital products?", Some("no-such-session")).await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["type"], "urn:seams:problem:not-found");
    assert_eq!(problem["step"], "LoadSession");
    let (status, problem) = ask(&stack, "And for digital products?", Some("../other-tenant")).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("session_id")), "{problem}");
}

#[tokio::test]
async fn turns_asked_at_once_in_one_session_are_all_kept() {
    let (_data, stack) = stack().await;
    let (_, first) = ask(&stack, "How long do card refunds take to appear?", None).await;
    let session = first["session_id"].as_str().unwrap().to_owned();
    let follow_ups = ["And for digital products?", "What about gift cards?", "And store credit?"];
    // Spawned together: their RecordTurn steps race on the one session object.
    let asked = follow_ups.map(|question| {
        let (stack, session) = (stack.clone(), session.clone());
        tokio::spawn(async move { ask(&stack, question, Some(&session)).await })
    });
    for asked in asked {
        let (status, answer) = asked.await.unwrap();
        assert_eq!(status, 200, "{answer}");
    }
    let load = json!({"session": {"step": "load", "session_id": session}});
    let history = seams::invoke(&stack, "answer", load).await.unwrap();
    assert_eq!(history["turns"].as_array().map(Vec::len), Some(4), "{history}");
}
