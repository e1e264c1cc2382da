//! Formatting answers with minijinja: built-in templates for plain text, Markdown and HTML,
//! and caller templates run sandboxed (no file or network access in minijinja, a size limit
//! on the template, a fuel limit on its work, a size limit on what it makes). Values are
//! escaped for where the text is shown (`escape`): the HTML template by minijinja's HTML
//! auto-escape, a caller's Slack template by Slack's (`render_mrkdwn`).

use minijinja::value::{Serde, Value as TemplateValue};
use minijinja::{context, default_auto_escape_callback, escape_formatter, AutoEscape, Environment, UndefinedBehavior};
use seams_contracts::infer::{InferenceOutput, InferenceResponse};
use seams_contracts::output::{CitedSource, OutputFormat};
use serde::Serialize;
use serde_json::Value;

use crate::escape;

pub const MAX_TEMPLATE_CHARS: usize = 10_000;
/// Instructions a template may run; a loop over a large range runs out.
pub const TEMPLATE_FUEL: u64 = 100_000;
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

const TEXT: &str = "{{ answer }}
{% if citations %}
Sources:
{% for c in citations %}[{{ c.id }}]{% if c.title %} {{ c.title }}{% endif %}{% if c.source_uri %} — {{ c.source_uri }}{% endif %}
{% endfor %}{% endif %}";

/// A source is a link only if its URI is a web address; its title and any other URI are text.
const MARKDOWN: &str = "{{ answer }}
{% if citations %}
**Sources**
{% for c in citations %}
- {{ c.id | markdown_code }}{% if c.source_uri is web_link %} {% if c.title %}[{{ c.title | markdown_text }}]({{ c.source_uri | markdown_destination }}){% else %}<{{ c.source_uri }}>{% endif %}{% else %}{% if c.title %} {{ c.title | markdown_text }}{% endif %}{% if c.source_uri %} — {{ c.source_uri | markdown_text }}{% endif %}{% endif %}{% endfor %}
{% endif %}";

/// Rendered as `HTML_NAME`, so every value is HTML-escaped; the answer's line breaks (any of
/// `\r\n`, `\r`, `\n`) become `<br>` after escaping.
const HTML: &str = "<div class=\"seams-answer\">
<p>{{ answer | replace(\"\\r\\n\", \"\\n\") | replace(\"\\r\", \"\\n\") | e | replace(\"\\n\", \"<br>\" | safe) }}</p>
{% if citations %}<h4>Sources</h4>
<ol>{% for c in citations %}
<li><code>{{ c.id }}</code>{% if c.source_uri is web_link %} <a href=\"{{ c.source_uri }}\">{{ c.title or c.source_uri }}</a>{% else %}{% if c.title %} {{ c.title }}{% endif %}{% if c.source_uri %} — {{ c.source_uri }}{% endif %}{% endif %}</li>{% endfor %}
</ol>{% endif %}
</div>";

/// Template names choose how values are escaped: minijinja escapes HTML for `.html`, and
/// `environment` escapes Slack's control characters for `.mrkdwn`. Anything else is text.
const HTML_NAME: &str = "answer.html";
const MRKDWN_NAME: &str = "message.mrkdwn";
const MRKDWN: &str = "mrkdwn";

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
    env.add_test("web_link", |uri: TemplateValue| uri.as_str().is_some_and(escape::is_web_link));
    env.add_filter("markdown_text", |text: String| escape::markdown_text(&text));
    env.add_filter("markdown_code", |text: String| escape::markdown_code(&text));
    env.add_filter("markdown_destination", |uri: String| escape::markdown_destination(&uri));
    env.set_auto_escape_callback(|name| match name.ends_with(".mrkdwn") {
        true => AutoEscape::Custom(MRKDWN.into()),
        false => default_auto_escape_callback(name),
    });
    env.set_formatter(|out, state, value| match state.auto_escape() {
        AutoEscape::Custom(name) if name == MRKDWN && !value.is_safe() => {
            if !value.is_undefined() {
                out.write_str(&escape::mrkdwn(&value.to_string()))?;
            }
            Ok(())
        }
        _ => escape_formatter(out, state, value),
    });
    env
}

/// Renders `template` (a caller's or a built-in) with the answer, as text.
pub fn render(template: &str, answer: &Answer) -> Result<String, TemplateError> {
    render_named("<string>", template, answer)
}

/// Renders a caller's template for Slack: its own text is mrkdwn as written, every value it
/// shows is escaped (`escape::mrkdwn`).
pub fn render_mrkdwn(template: &str, answer: &Answer) -> Result<String, TemplateError> {
    render_named(MRKDWN_NAME, template, answer)
}

fn render_named(name: &str, template: &str, answer: &Answer) -> Result<String, TemplateError> {
    check_size(template)?;
    let env = environment();
    let compiled =
        env.template_from_named_str(name, template).map_err(|e| TemplateError(format!("template error: {e}")))?;
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

fn check_size(template: &str) -> Result<(), TemplateError> {
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(TemplateError(format!("the template is longer than {MAX_TEMPLATE_CHARS} characters")));
    }
    Ok(())
}

/// Checks a caller template without an answer: syntax and size.
pub fn check(template: &str) -> Result<(), TemplateError> {
    check_size(template)?;
    environment().template_from_str(template).map(|_| ()).map_err(|e| TemplateError(format!("template error: {e}")))
}

/// The message text: the caller's template, else the format's built-in (`json` has none:
/// the record itself is the body, and its message is plain text).
pub fn message(template: Option<&str>, format: OutputFormat, answer: &Answer) -> Result<String, TemplateError> {
    let rendered = match (template, format) {
        (Some(template), _) => render(template, answer),
        (None, OutputFormat::Text | OutputFormat::Json) => render(TEXT, answer),
        (None, OutputFormat::Markdown) => render(MARKDOWN, answer),
        (None, OutputFormat::Html) => render_named(HTML_NAME, HTML, answer),
    };
    rendered.map(|s| s.trim().to_owned())
}

#[cfg(test)]
pub(crate) mod tests;
