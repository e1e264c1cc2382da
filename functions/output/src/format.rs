//! Formatting answers with minijinja: built-in templates for plain text, Markdown, HTML and
//! Slack, and caller templates run sandboxed (no file or network access in minijinja, a
//! size limit on the template, a fuel limit on its work, a size limit on what it makes).

use minijinja::value::Serde;
use minijinja::{context, Environment, UndefinedBehavior};
use seams_contracts::infer::{InferenceOutput, InferenceResponse};
use seams_contracts::output::{CitedSource, OutputFormat};
use serde::Serialize;
use serde_json::Value;

pub const MAX_TEMPLATE_CHARS: usize = 10_000;
/// Instructions a template may run; a loop over a large range runs out.
pub const TEMPLATE_FUEL: u64 = 100_000;
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

const TEXT: &str = "{{ answer }}
{% if citations %}
Sources:
{% for c in citations %}[{{ c.id }}]{% if c.title %} {{ c.title }}{% endif %}{% if c.source_uri %} — {{ c.source_uri }}{% endif %}
{% endfor %}{% endif %}";

const MARKDOWN: &str = "{{ answer }}
{% if citations %}
**Sources**
{% for c in citations %}
- `{{ c.id }}`{% if c.title %} {% if c.source_uri %}[{{ c.title }}]({{ c.source_uri }}){% else %}{{ c.title }}{% endif %}{% elif c.source_uri %} <{{ c.source_uri }}>{% endif %}{% endfor %}
{% endif %}";

const HTML: &str = "<div class=\"seams-answer\">
<p>{{ answer | e | replace(\"\\n\", \"<br>\") }}</p>
{% if citations %}<h4>Sources</h4>
<ol>{% for c in citations %}
<li><code>{{ c.id }}</code>{% if c.title %} {% if c.source_uri %}<a href=\"{{ c.source_uri }}\">{{ c.title }}</a>{% else %}{{ c.title }}{% endif %}{% endif %}</li>{% endfor %}
</ol>{% endif %}
</div>";

/// Slack Block Kit: the answer as mrkdwn, its sources as a context block.
const SLACK: &str = r#"{"text": {{ answer | tojson }},
 "blocks": [
  {"type": "section", "text": {"type": "mrkdwn", "text": {{ answer | tojson }}}}{% if citations %},
  {"type": "context", "elements": [{% for c in citations %}{"type": "mrkdwn", "text": {{ (("<" ~ c.source_uri ~ "|" ~ (c.title or c.id) ~ ">") if c.source_uri else ("`" ~ c.id ~ "`" ~ ((" " ~ c.title) if c.title else ""))) | tojson }}}{% if not loop.last %}, {% endif %}{% endfor %}]}{% endif %}
 ]}"#;

/// What every template sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub request_id: String,
    /// The answer's text, or its JSON pretty-printed.
    pub answer: String,
    /// The answer's JSON, when it is structured.
    pub json: Option<Value>,
    pub citations: Vec<CitedSource>,
    pub model: String,
    pub provider: String,
    pub metadata: Value,
}

impl Answer {
    /// `metadata.sources` describes the cited ids: either a map from id to `{title,
    /// source_uri, document_id}`, or retrieve's results as they are (the answer workflow
    /// passes those: a state machine cannot reshape a list into a map).
    pub fn new(request_id: &str, result: &InferenceResponse, metadata: &serde_json::Map<String, Value>) -> Self {
        let (answer, json) = match &result.output {
            InferenceOutput::Text(text) => (text.clone(), None),
            InferenceOutput::Json(value) => {
                (serde_json::to_string_pretty(value).unwrap_or_default(), Some(value.clone()))
            }
        };
        let sources = metadata.get("sources");
        let spans = match &result.output {
            InferenceOutput::Text(text) => crate::spans::citation_spans(text, &result.citations),
            InferenceOutput::Json(_) => vec![Vec::new(); result.citations.len()],
        };
        let citations = result
            .citations
            .iter()
            .zip(spans)
            .map(|(id, spans)| {
                let (source, described) = match sources {
                    Some(Value::Array(results)) => {
                        let result = results.iter().find(|r| r.get("chunk_id").and_then(Value::as_str) == Some(id));
                        (result, result.and_then(|r| r.get("citation")))
                    }
                    Some(map) => (map.get(id), map.get(id)),
                    None => (None, None),
                };
                let text = |value: Option<&Value>, key: &str| {
                    value.and_then(|v| v.get(key)).and_then(Value::as_str).map(str::to_owned)
                };
                CitedSource {
                    id: id.clone(),
                    document_id: text(source, "document_id"),
                    title: text(described, "title"),
                    source_uri: text(described, "source_uri"),
                    spans,
                }
            })
            .collect();
        Self {
            request_id: request_id.to_owned(),
            answer,
            json,
            citations,
            model: result.model.clone(),
            provider: result.provider.clone(),
            metadata: Value::Object(metadata.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

/// Renders `template` (a caller's or a built-in) with the answer.
pub fn render(template: &str, answer: &Answer) -> Result<String, TemplateError> {
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(TemplateError(format!("the template is longer than {MAX_TEMPLATE_CHARS} characters")));
    }
    let env = environment();
    let compiled = env.template_from_str(template).map_err(|e| TemplateError(format!("template error: {e}")))?;
    let out = compiled
        .render(context! { request_id => &answer.request_id, answer => &answer.answer, json => Serde(&answer.json),
        citations => Serde(&answer.citations), model => Serde(&answer.model), provider => Serde(&answer.provider),
        metadata => Serde(&answer.metadata) })
        .map_err(|e| TemplateError(format!("template error: {e}")))?;
    if out.len() > MAX_OUTPUT_BYTES {
        return Err(TemplateError(format!("the template made more than {MAX_OUTPUT_BYTES} bytes")));
    }
    Ok(out)
}

/// Checks a caller template without an answer: syntax and size.
pub fn check(template: &str) -> Result<(), TemplateError> {
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(TemplateError(format!("the template is longer than {MAX_TEMPLATE_CHARS} characters")));
    }
    environment().template_from_str(template).map(|_| ()).map_err(|e| TemplateError(format!("template error: {e}")))
}

/// The built-in template of a format (`json` has none: the record itself is the body).
pub fn builtin(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Text | OutputFormat::Json => TEXT,
        OutputFormat::Markdown => MARKDOWN,
        OutputFormat::Html => HTML,
    }
}

/// The message text: the caller's template, else the format's built-in.
pub fn message(template: Option<&str>, format: OutputFormat, answer: &Answer) -> Result<String, TemplateError> {
    render(template.unwrap_or(builtin(format)), answer).map(|s| s.trim().to_owned())
}

/// Slack's payload: the caller's template (rendered as the message text) or the built-in
/// Block Kit message.
pub fn slack(template: Option<&str>, answer: &Answer) -> Result<Value, TemplateError> {
    match template {
        Some(template) => Ok(serde_json::json!({"text": render(template, answer)?.trim()})),
        None => serde_json::from_str(&render(SLACK, answer)?).map_err(|e| TemplateError(format!("slack blocks: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use seams_contracts::infer::{FinishReason, Usage};
    use seams_contracts::output::TextSpan;
    use serde_json::json;

    use super::*;

    fn answer() -> Answer {
        let metadata =
            json!({"sources": {"refunds:1:0": {"title": "Refund policy", "source_uri": "https://intra/refunds"}}});
        Answer::new("req-1", &result(), metadata.as_object().unwrap())
    }

    fn result() -> InferenceResponse {
        InferenceResponse {
            schema_version: Default::default(),
            request_id: "req-1".into(),
            output: InferenceOutput::Text("Refunds take 14 days [refunds:1:0].".into()),
            citations: vec!["refunds:1:0".into(), "ctx-2".into()],
            model: "m".into(),
            provider: "offline".into(),
            usage: Usage::default(),
            finish_reason: FinishReason::Stop,
            latency_ms: 1,
            truncated_context: Vec::new(),
        }
    }

    #[test]
    fn sources_may_be_retrieves_results_as_they_are() {
        let metadata = json!({"sources": [
            {"chunk_id": "other:1:0", "document_id": "other", "citation": {"title": "Other"}},
            {"chunk_id": "refunds:1:0", "document_id": "refunds", "text": "…",
             "citation": {"title": "Refund policy", "source_uri": "https://intra/refunds", "heading_path": []}}
        ]});
        let answer = Answer::new("req-1", &result(), metadata.as_object().unwrap());
        assert_eq!(
            answer.citations,
            vec![
                CitedSource {
                    id: "refunds:1:0".into(),
                    document_id: Some("refunds".into()),
                    title: Some("Refund policy".into()),
                    source_uri: Some("https://intra/refunds".into()),
                    spans: vec![TextSpan { start: 0, end: 35 }],
                },
                CitedSource { id: "ctx-2".into(), document_id: None, title: None, source_uri: None, spans: Vec::new() },
            ]
        );
    }

    #[test]
    fn built_in_formats_carry_the_answer_and_its_sources() {
        let a = answer();
        let text = message(None, OutputFormat::Text, &a).unwrap();
        assert_eq!(text, "Refunds take 14 days [refunds:1:0].\n\nSources:\n[refunds:1:0] Refund policy — https://intra/refunds\n[ctx-2]");
        let markdown = message(None, OutputFormat::Markdown, &a).unwrap();
        assert!(markdown.contains("- `refunds:1:0` [Refund policy](https://intra/refunds)"), "{markdown}");
        let html = message(None, OutputFormat::Html, &a).unwrap();
        assert!(
            html.contains("<a href=\"https://intra/refunds\">Refund policy</a>") && html.contains("<code>ctx-2</code>"),
            "{html}"
        );
    }

    #[test]
    fn html_escapes_the_answer() {
        let mut a = answer();
        a.answer = "<script>alert(1)</script>".into();
        let html = message(None, OutputFormat::Html, &a).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
    }

    #[test]
    fn slack_gets_block_kit_with_linked_sources() {
        let blocks = slack(None, &answer()).unwrap();
        assert_eq!(blocks["blocks"][0]["text"]["type"], "mrkdwn");
        assert_eq!(blocks["blocks"][0]["text"]["text"], "Refunds take 14 days [refunds:1:0].");
        assert_eq!(blocks["blocks"][1]["elements"][0]["text"], "<https://intra/refunds|Refund policy>");
        assert_eq!(blocks["blocks"][1]["elements"][1]["text"], "`ctx-2`");
    }

    #[test]
    fn caller_templates_are_checked_and_bounded() {
        let a = answer();
        assert_eq!(
            message(Some("{{ request_id }}: {{ answer }}"), OutputFormat::Text, &a).unwrap(),
            "req-1: Refunds take 14 days [refunds:1:0]."
        );
        assert!(check("{% for x in %}").unwrap_err().0.contains("template error"));
        assert!(check(&"x".repeat(MAX_TEMPLATE_CHARS + 1)).is_err());
        let endless = render("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", &a);
        assert!(endless.unwrap_err().0.contains("fuel"), "runs out of fuel");
        assert!(render("{{ 'x' * 300000 }}", &a).is_err());
        assert!(render("{% include 'secrets.txt' %}", &a).is_err(), "no file access");
    }
}
