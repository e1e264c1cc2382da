//! The guardrail through the whole local answer workflow (offline model, example corpus plus a
//! page of contacts): questions with personal data or denied words, and answers that would
//! quote personal data, are stopped with `Seams.GuardrailIntervened` before anything is
//! delivered; the demo questions all pass; masking lets a question through without its data.

use std::collections::BTreeMap;
use std::sync::Arc;

use seams::commands::{self, Question};
use seams::workflow::ANSWER;
use seams::LocalStack;
use seams_platform::function;
use serde_json::{json, Value};

const DENY_LIST: &str = "lawsuit, class action, competitor pricing";

/// Names, mail and phone numbers the offline model would quote in an answer.
const CONTACTS: &str = "# Escalation contacts\n\n\
Billing escalations go to Dana Whitfield at dana.whitfield@example.com.\n\n\
The warehouse night desk answers on +44 20 7946 0958 for urgent shipping problems.\n\n\
Refunds above the limit are paid to the company account GB82 WEST 1234 5698 7654 32.\n";

async fn stack(variables: &[(&str, &str)]) -> (tempfile::TempDir, Arc<LocalStack>) {
    let data = tempfile::tempdir().unwrap();
    let variables: BTreeMap<String, String> = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let stack = LocalStack::configured(data.path(), variables).await.unwrap();
    let contacts = data.path().join("escalation-contacts.md");
    std::fs::write(&contacts, CONTACTS).unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs").to_owned();
    let summary = commands::ingest_files(&stack, &[examples, contacts.display().to_string()], |_, _, _| {}).await;
    assert!(summary.rejected.is_empty() && summary.failed_downstream.is_empty(), "{summary:?}");
    (data, Arc::new(stack))
}

fn question(text: &str) -> Question {
    Question { text: text.to_owned(), ..Question::default() }
}

/// Questions the guardrail must stop at `GuardQuestion`.
const BLOCKED_QUESTIONS: [&str; 14] = [
    "My card 4111 1111 1111 1111 was charged twice, how long do refunds take?",
    "Refund to 5500-0000-0000-0004 please, when will it arrive?",
    "Can you refund card number 378282246310005?",
    "Send the refund to IBAN DE89 3704 0044 0532 0130 00",
    "My account is GB82WEST12345698765432, can digital products be refunded?",
    "Email me at jane.doe@example.org about my refund",
    "Is JOHN+orders@shop.example.co.uk on the on-call rota?",
    "Call me on (555) 123-4567 about hotel reimbursement",
    "My number is +49 151 1234 5678, when are deployments frozen?",
    "Text +4915112345678 when my parcel ships",
    "Are you facing a lawsuit over refunds?",
    "Is there a CLASS ACTION about shipping delays?",
    "What is your competitor pricing for express shipping?",
    "Lawsuit: how long do card refunds take?",
];

/// Innocent questions whose answers would quote the contacts page.
const BLOCKED_ANSWERS: [&str; 6] = [
    "Who handles billing escalations?",
    "Where do billing escalations go?",
    "Which number does the warehouse night desk answer on?",
    "Who answers urgent shipping problems at night?",
    "Which account are refunds above the limit paid to?",
    "Where are large refunds paid?",
];

fn intervened(execution: &seams::asl::Execution) -> Option<(String, String)> {
    let error = execution.output.as_ref().err()?;
    (error.error == "Seams.GuardrailIntervened").then(|| (error.error.clone(), error.cause.clone()))
}

#[tokio::test]
async fn twenty_questions_and_answers_with_personal_data_or_denied_words_are_never_delivered() {
    let (_data, stack) = stack(&[("SEAMS_GUARDRAIL", "offline"), ("SEAMS_GUARDRAIL_DENY_LIST", DENY_LIST)]).await;
    let mut delivered = Vec::new();
    for (text, step) in
        BLOCKED_QUESTIONS.iter().map(|q| (q, "GuardQuestion")).chain(BLOCKED_ANSWERS.iter().map(|q| (q, "GuardAnswer")))
    {
        let execution = commands::ask(stack.clone(), &question(text)).await.unwrap();
        let states = execution.states();
        if states.contains(&"Deliver") {
            delivered.push(text);
            continue;
        }
        let (_, cause) = intervened(&execution).unwrap_or_else(|| panic!("{text}: {:?}", execution.output));
        assert!(cause.starts_with(&format!("{step} failed: ")), "{text}: {cause}");
        for secret in ["4111", "example.", "7946", "WEST", "DE89", "123-4567"] {
            assert!(!cause.contains(secret), "{text}: the cause names the policy, not the text: {cause}");
        }
    }
    assert_eq!(delivered, Vec::<&&str>::new(), "blocked content was delivered");
    assert_eq!(stack.answer_failures.len(), 20, "each blocked request is kept in the failures queue");
}

#[tokio::test]
async fn the_demo_questions_all_pass_the_guardrail() {
    let (_data, stack) = stack(&[("SEAMS_GUARDRAIL", "offline"), ("SEAMS_GUARDRAIL_DENY_LIST", DENY_LIST)]).await;
    let questions: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/questions.json")).unwrap(),
    )
    .unwrap();
    assert!(questions.len() >= 7);
    for entry in questions {
        let input = json!({"question": entry["question"], "filters": entry["filters"],
                           "destination": {"type": "http_response"}});
        let execution = commands::run(stack.clone(), ANSWER, input, |_| {}).await.unwrap();
        assert!(execution.output.is_ok(), "{entry}: {:?}", execution.output);
        assert!(execution.states().contains(&"GuardQuestion"), "the deployment's guardrail ran");
    }
}

#[tokio::test]
async fn a_request_turns_the_guardrail_on_and_masking_lets_the_question_through() {
    let (_data, stack) = stack(&[("SEAMS_GUARDRAIL_PII", "mask")]).await;
    let text = "Email me at jane.doe@example.org: how long do card refunds take to appear?";

    let unguarded = commands::ask(stack.clone(), &question(text)).await.unwrap();
    assert!(!unguarded.states().contains(&"GuardQuestion"), "off unless asked");

    let asked = Question { guardrail: true, ..question(text) };
    let execution = commands::ask(stack.clone(), &asked).await.unwrap();
    let output = execution.output.as_ref().unwrap_or_else(|e| panic!("{e:?}"));
    assert!(execution.states().contains(&"GuardQuestion") && execution.states().contains(&"GuardAnswer"));
    let answer = output["answer"]["text"].as_str().unwrap();
    assert!(!answer.contains("jane.doe"), "{answer}");
    assert!(answer.to_lowercase().contains("refund"), "the masked question still finds the refund policy: {answer}");

    let contact = Question { guardrail: true, ..question("Who handles billing escalations?") };
    let execution = commands::ask(stack.clone(), &contact).await.unwrap();
    let answer = execution.output.as_ref().unwrap()["answer"]["text"].as_str().unwrap().to_owned();
    assert!(answer.contains("{EMAIL}") && !answer.contains("dana.whitfield@"), "the answer is masked: {answer}");
}

#[tokio::test]
async fn post_answer_answers_a_blocked_question_with_a_422_problem_naming_the_step() {
    let (_data, stack) = stack(&[("SEAMS_GUARDRAIL", "offline")]).await;
    let service = seams::workflow::answer_service(&stack);
    let request = seams_platform::proxy::RouteRequest::new("POST", "/answer").json(&json!({
        "question": "Refund my card 4111 1111 1111 1111 please", "destination": {"type": "http_response"}}));
    let (route, parameters) = request.route().unwrap();
    let event = request.event(&route, &parameters, "req-guard");
    let response = seams_platform::proxy::RouteResponse::from_proxy(&function::handle(&service, event).await.unwrap());
    let problem: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(response.status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:seams:problem:guardrail-intervened");
    assert_eq!(
        (problem["error"].as_str(), problem["step"].as_str()),
        (Some("Seams.GuardrailIntervened"), Some("GuardQuestion"))
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("pii.card_number") && !detail.contains("4111"), "{detail}");
}
