//! Delivery templates: a caller's minijinja template rendered with an answer.

use output::format::{check, render as render_answer, Answer, MAX_OUTPUT_BYTES};
use output::slack;
use seams_contracts::infer::InferenceResponse;
use serde_json::json;

/// Target `templates`: the input is the template. A template `check` refuses never renders,
/// and what renders is within the output limit.
pub fn render(data: &[u8]) {
    let Ok(template) = std::str::from_utf8(data) else { return };
    let answer = sample_answer();
    let rendered = render_answer(template, &answer);
    if check(template).is_err() {
        assert!(rendered.is_err(), "a template check refused rendered: {template:?}");
    }
    if let Ok(text) = rendered {
        assert!(text.len() <= MAX_OUTPUT_BYTES, "{} bytes rendered", text.len());
    }
    let _ = slack::message(Some(template), &answer);
}

fn sample_answer() -> Answer {
    let response = json!({"request_id": "r-1", "output": {"json": {"answer": "yes", "n": [1, 2]}},
        "citations": ["d1#0"], "model": "offline", "provider": "offline",
        "usage": {"input_tokens": 1, "output_tokens": 2}, "finish_reason": "stop", "latency_ms": 3});
    let metadata = json!({"sources": {"d1#0": {"title": "A <b>title</b>", "source_uri": "https://example.com/a"}},
        "question": "why?"});
    let response: InferenceResponse = serde_json::from_value(response).unwrap_or_else(|e| panic!("sample answer: {e}"));
    Answer::new("r-1", &response, metadata.as_object().unwrap_or(&serde_json::Map::new()))
}
