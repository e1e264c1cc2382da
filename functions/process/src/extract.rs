//! Text out of each supported format, as Markdown where the source has structure, so the
//! chunker can follow headings. Pure: no I/O.

mod html_source;
mod html_tree;
mod pdf_content;
mod pdf_drawing;
mod pdf_fonts;
mod pdf_names;
mod pdf_objects;
mod pdf_pages;
mod pdf_streams;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("{0} documents cannot be extracted yet")]
    Unsupported(String),
    #[error("the document is not valid {format}: {reason}")]
    Malformed { format: &'static str, reason: String },
    #[error("the document is too large to extract: {0}")]
    TooLarge(String),
}

/// What extraction found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The text, one entry per page for paged formats (PDF), else one entry.
    pub pages: Vec<String>,
    /// Whether `pages` are real pages, whose numbers chunks should cite.
    pub paged: bool,
    /// The first heading, HTML `<title>`, or first line.
    pub title: Option<String>,
}

impl Extracted {
    fn single(text: String, title: Option<String>) -> Self {
        Self { pages: vec![text], paged: false, title }
    }
}

/// Tags whose content is page chrome or code, not the document.
const SKIPPED_HTML_TAGS: [&str; 8] = ["head", "script", "style", "nav", "footer", "noscript", "template", "svg"];

/// Text formats arrive as UTF-8 (ingest normalised them); PDFs as their own bytes.
pub fn extract(content_type: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    if content_type == "application/pdf" {
        return pdf(bytes);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ExtractError::Malformed { format: "UTF-8 text", reason: e.to_string() })?;
    match content_type {
        "text/markdown" => Ok(Extracted::single(text.to_owned(), first_heading(text).or_else(|| first_line(text)))),
        "text/plain" => Ok(Extracted::single(text.to_owned(), first_line(text))),
        "text/html" => html(text),
        "application/json" => json(text),
        other => Err(ExtractError::Unsupported(other.to_owned())),
    }
}

/// One string per page. PDF parsers can panic on hostile input; the panic is caught and
/// becomes this document's error (release builds unwind, see docs/decisions/0002).
fn pdf(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let malformed = |reason: String| ExtractError::Malformed { format: "PDF", reason };
    let extracted = std::panic::catch_unwind(|| pdf_pages::pages(bytes))
        .map_err(|_| malformed("the PDF parser gave up on it".into()))?
        .map_err(|e| match e {
            pdf_pages::PdfError::Inflated(inflated) => ExtractError::TooLarge(inflated.to_string()),
            pdf_pages::PdfError::Fonts(codes) => ExtractError::TooLarge(codes.to_string()),
            pdf_pages::PdfError::Entries(entries) => ExtractError::TooLarge(entries.to_string()),
            pdf_pages::PdfError::Content(content) => ExtractError::TooLarge(content.to_string()),
            other => malformed(other.to_string()),
        })?;
    let title = extracted.iter().find_map(|page| first_line(page));
    Ok(Extracted { pages: extracted, paged: true, title })
}

fn html(source: &str) -> Result<Extracted, ExtractError> {
    html_source::check(source).map_err(ExtractError::TooLarge)?;
    let converter = htmd::HtmlToMarkdown::builder().skip_tags(SKIPPED_HTML_TAGS.to_vec()).build();
    let tree = html_source::parse(source, html_source::PARSE_BUDGET).map_err(ExtractError::TooLarge)?;
    html_tree::bound(&tree, &SKIPPED_HTML_TAGS);
    let markdown = converter.tree_to_markdown(&tree);
    let title = html_title(source).or_else(|| first_heading(&markdown)).or_else(|| first_line(&markdown));
    Ok(Extracted::single(markdown, title))
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
/// Flattened JSON's text at most, in bytes. Every leaf repeats its whole path, so a small file
/// of long keys nested deep over many leaves flattens to gigabytes: 219 KB (100 levels of
/// 1,000-character keys over 10,000 leaves) held 3 GB and ran past two minutes. Real files
/// flatten to a few times their size; ingest takes at most 50 MiB.
pub const MAX_JSON_TEXT_BYTES: usize = 64 << 20;

fn json(source: &str) -> Result<Extracted, ExtractError> {
    let value: Value =
        serde_json::from_str(source).map_err(|e| ExtractError::Malformed { format: "JSON", reason: e.to_string() })?;
    let mut text = String::new();
    flatten(&value, "", &mut text).map_err(|()| {
        ExtractError::TooLarge(format!("the JSON flattens to more than {} MiB of text", MAX_JSON_TEXT_BYTES >> 20))
    })?;
    Ok(Extracted::single(text.clone(), first_line(&text)))
}

/// Appends a line `path: value` to `text` for each leaf under `value`, or fails once `text`
/// would pass [`MAX_JSON_TEXT_BYTES`].
fn flatten(value: &Value, path: &str, text: &mut String) -> Result<(), ()> {
    let child = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    let leaf = |text: &mut String, shown: &str| {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(path);
        text.push_str(": ");
        text.push_str(shown);
        if text.len() > MAX_JSON_TEXT_BYTES {
            return Err(());
        }
        Ok(())
    };
    match value {
        Value::Object(map) => map.iter().try_for_each(|(key, value)| flatten(value, &child(key), text)),
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, value)| flatten(value, &format!("{path}[{i}]"), text))
        }
        Value::String(string) => leaf(text, string),
        Value::Null => Ok(()),
        other => leaf(text, &other.to_string()),
    }
}

fn first_heading(markdown: &str) -> Option<String> {
    markdown.lines().find_map(|line| {
        let heading = line.trim_start().strip_prefix('#')?.trim_start_matches('#').trim();
        (!heading.is_empty()).then(|| heading.to_owned())
    })
}

/// The first non-blank line, at most 200 characters.
pub fn first_line(text: &str) -> Option<String> {
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
        let extracted = extract("text/html", page.as_bytes()).unwrap();
        assert_eq!(extracted.title.as_deref(), Some("Refund policy | ACME"));
        let text = &extracted.pages[0];
        for kept in ["# Refund policy", "## Digital products", "[14 days](/terms)", "Not downloaded", "E-book"] {
            assert!(text.contains(kept), "{kept:?} missing from:\n{text}");
        }
        for dropped in ["Home", "Shop", "track()", "color:red", "© ACME"] {
            assert!(!text.contains(dropped), "{dropped:?} kept in:\n{text}");
        }
    }

    #[test]
    fn markdown_title_is_its_first_heading() {
        let extracted = extract("text/markdown", b"intro line\n\n## Refunds\n\ntext").unwrap();
        assert_eq!(extracted.title.as_deref(), Some("Refunds"));
        assert_eq!(extracted.pages, ["intro line\n\n## Refunds\n\ntext"]);
        assert!(!extracted.paged);
    }

    #[test]
    fn json_is_flattened_to_paths() {
        let json = br#"{"policy": {"name": "Refunds", "days": 14, "tags": ["digital", null]}}"#;
        let extracted = extract("application/json", json).unwrap();
        assert_eq!(extracted.pages, ["policy.days: 14\npolicy.name: Refunds\npolicy.tags[0]: digital"]);
        assert!(matches!(extract("application/json", b"{"), Err(ExtractError::Malformed { format: "JSON", .. })));
    }

    #[test]
    fn json_that_flattens_past_the_bound_is_refused() {
        // 40 levels of 1,000-character keys over 2,000 leaves: 96 KB flattening to about 80 MB.
        let key = "k".repeat(1_000);
        let leaves: Vec<String> = (0..2_000).map(|i| format!("\"a{i}\": 1")).collect();
        let mut json = format!("{{{}}}", leaves.join(","));
        for _ in 0..40 {
            json = format!("{{\"{key}\": {json}}}");
        }
        assert!(json.len() < 100_000, "{}", json.len());
        let refused = extract("application/json", json.as_bytes()).unwrap_err().to_string();
        assert_eq!(refused, "the document is too large to extract: the JSON flattens to more than 64 MiB of text");
        let within = format!("{{\"{key}\": {{{}}}}}", leaves.join(","));
        assert_eq!(extract("application/json", within.as_bytes()).unwrap().pages[0].lines().count(), 2_000);
    }

    #[test]
    fn pdf_text_comes_out_page_by_page() {
        let pdf = include_bytes!("../tests/fixtures/handbook.pdf");
        let extracted = extract("application/pdf", pdf).unwrap();
        assert!(extracted.paged);
        assert_eq!(extracted.pages.len(), 3);
        assert!(extracted.pages[0].contains("Keep receipts"), "{:?}", extracted.pages[0]);
        assert!(extracted.pages[1].contains("Book trains"));
        assert!(extracted.pages[2].contains("twenty-five days"));
    }

    /// Runs where process runs extraction: a runtime worker's 2 MiB stack. Before the tree was
    /// bounded, htmd's recursion overflowed it and aborted the whole process.
    #[test]
    fn a_page_nested_ten_thousand_deep_keeps_its_text_and_the_stack() {
        let page = format!("<p>intro</p>{}deep text", "<blockquote><b>".repeat(5_000));
        let extracted = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || extract("text/html", page.as_bytes()))
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        let text = &extracted.pages[0];
        assert!(text.starts_with("intro") && text.contains("deep text"), "{text:.200}");
    }

    #[test]
    fn broken_pdfs_and_unknown_formats_are_errors_not_panics() {
        let truncated = &include_bytes!("../tests/fixtures/handbook.pdf")[..600];
        assert!(matches!(extract("application/pdf", truncated), Err(ExtractError::Malformed { format: "PDF", .. })));
        assert!(matches!(extract("application/pdf", b"%PDF-1.7 garbage"), Err(ExtractError::Malformed { .. })));
        assert_eq!(extract("image/png", b""), Err(ExtractError::Unsupported("image/png".into())));
    }
}
