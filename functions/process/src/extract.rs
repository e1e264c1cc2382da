//! Text out of each supported format, as Markdown where the source has structure, so the
//! chunker can follow headings. Pure: no I/O.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("{0} documents cannot be extracted yet")]
    Unsupported(String),
    #[error("the document is not valid {format}: {reason}")]
    Malformed { format: &'static str, reason: String },
}

/// What extraction found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    /// The first heading, HTML `<title>`, or first line.
    pub title: Option<String>,
}

/// Tags whose content is page chrome or code, not the document.
const SKIPPED_HTML_TAGS: [&str; 8] = ["head", "script", "style", "nav", "footer", "noscript", "template", "svg"];

pub fn extract(content_type: &str, text: &str) -> Result<Extracted, ExtractError> {
    match content_type {
        "text/markdown" => {
            Ok(Extracted { title: first_heading(text).or_else(|| first_line(text)), text: text.to_owned() })
        }
        "text/plain" => Ok(Extracted { title: first_line(text), text: text.to_owned() }),
        "text/html" => html(text),
        "application/json" => json(text),
        other => Err(ExtractError::Unsupported(other.to_owned())),
    }
}

fn html(source: &str) -> Result<Extracted, ExtractError> {
    let converter = htmd::HtmlToMarkdown::builder().skip_tags(SKIPPED_HTML_TAGS.to_vec()).build();
    let markdown =
        converter.convert(source).map_err(|e| ExtractError::Malformed { format: "HTML", reason: e.to_string() })?;
    let title = html_title(source).or_else(|| first_heading(&markdown)).or_else(|| first_line(&markdown));
    Ok(Extracted { text: markdown, title })
}

/// The text of `<title>`, if the page has one.
fn html_title(source: &str) -> Option<String> {
    let lower = source.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = source.get(start..end)?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// JSON flattened to one `path: value` line per leaf, which reads well and keeps keys
/// searchable.
fn json(source: &str) -> Result<Extracted, ExtractError> {
    let value: Value =
        serde_json::from_str(source).map_err(|e| ExtractError::Malformed { format: "JSON", reason: e.to_string() })?;
    let mut lines = Vec::new();
    flatten(&value, String::new(), &mut lines);
    let text = lines.join("\n");
    Ok(Extracted { title: first_line(&text), text })
}

fn flatten(value: &Value, path: String, lines: &mut Vec<String>) {
    let child = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::Object(map) => map.iter().for_each(|(key, value)| flatten(value, child(key), lines)),
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, value)| flatten(value, format!("{path}[{i}]"), lines))
        }
        Value::String(text) => lines.push(format!("{path}: {text}")),
        Value::Null => {}
        other => lines.push(format!("{path}: {other}")),
    }
}

fn first_heading(markdown: &str) -> Option<String> {
    markdown.lines().find_map(|line| {
        let heading = line.trim_start().strip_prefix('#')?.trim_start_matches('#').trim();
        (!heading.is_empty()).then(|| heading.to_owned())
    })
}

fn first_line(text: &str) -> Option<String> {
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(|l| l.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_content_and_drops_chrome() {
        let page = r#"<html><head><title>Refund policy | ACME</title><style>p{color:red}</style></head>
            <body><nav><a href="/">Home</a> <a href="/shop">Shop</a></nav>
            <h1>Refund policy</h1><h2>Digital products</h2>
            <p>Refunds within <a href="/terms">14 days</a>.</p>
            <ul><li>Not downloaded</li><li>Unused keys</li></ul>
            <table><tr><th>Product</th><th>Window</th></tr><tr><td>E-book</td><td>14 days</td></tr></table>
            <script>track()</script><footer>© ACME</footer></body></html>"#;
        let extracted = extract("text/html", page).unwrap();
        assert_eq!(extracted.title.as_deref(), Some("Refund policy | ACME"));
        let text = &extracted.text;
        for kept in ["# Refund policy", "## Digital products", "[14 days](/terms)", "Not downloaded", "E-book"] {
            assert!(text.contains(kept), "{kept:?} missing from:\n{text}");
        }
        for dropped in ["Home", "Shop", "track()", "color:red", "© ACME"] {
            assert!(!text.contains(dropped), "{dropped:?} kept in:\n{text}");
        }
    }

    #[test]
    fn markdown_title_is_its_first_heading() {
        let extracted = extract("text/markdown", "intro line\n\n## Refunds\n\ntext").unwrap();
        assert_eq!(extracted.title.as_deref(), Some("Refunds"));
        assert_eq!(extracted.text, "intro line\n\n## Refunds\n\ntext");
    }

    #[test]
    fn json_is_flattened_to_paths() {
        let extracted =
            extract("application/json", r#"{"policy": {"name": "Refunds", "days": 14, "tags": ["digital", null]}}"#)
                .unwrap();
        assert_eq!(extracted.text, "policy.days: 14\npolicy.name: Refunds\npolicy.tags[0]: digital");
        assert!(matches!(extract("application/json", "{"), Err(ExtractError::Malformed { format: "JSON", .. })));
    }

    #[test]
    fn unsupported_formats_say_so() {
        assert_eq!(extract("application/pdf", ""), Err(ExtractError::Unsupported("application/pdf".into())));
    }
}
