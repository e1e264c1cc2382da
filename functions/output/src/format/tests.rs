use proptest::prelude::*;
use seams_contracts::infer::{FinishReason, Usage};
use seams_contracts::output::TextSpan;
use serde_json::json;

use super::*;

pub(crate) fn answer() -> Answer {
    let metadata =
        json!({"sources": {"refunds:1:0": {"title": "Refund policy", "source_uri": "https://intra/refunds"}}});
    Answer::new("req-1", &result(), metadata.as_object().unwrap())
}

pub(crate) fn result() -> InferenceResponse {
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
    assert_eq!(
        text,
        "Refunds take 14 days [refunds:1:0].\n\nSources:\n[refunds:1:0] Refund policy — https://intra/refunds\n[ctx-2]"
    );
    let markdown = message(None, OutputFormat::Markdown, &a).unwrap();
    assert!(markdown.contains("- `refunds:1:0` [Refund policy](https://intra/refunds)"), "{markdown}");
    let html = message(None, OutputFormat::Html, &a).unwrap();
    assert!(html.contains(">Refund policy</a>") && html.contains("<code>ctx-2</code>"), "{html}");
    let (elements, _) = parse_html(&html);
    let hrefs: Vec<_> = elements.iter().flat_map(|(_, attrs)| attrs).filter(|(name, _)| name == "href").collect();
    assert_eq!(hrefs, [&("href".to_owned(), "https://intra/refunds".to_owned())], "{html}");
}

#[test]
fn html_escapes_the_answer() {
    let mut a = answer();
    a.answer = "<script>alert(1)</script>".into();
    let html = message(None, OutputFormat::Html, &a).unwrap();
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
}

/// Pieces of text that are markup somewhere: HTML, Markdown, Slack's control sequences,
/// URI schemes, entities, line breaks.
const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "&",
    "\"",
    "'",
    "`",
    "|",
    "]",
    "(",
    ")",
    "\\",
    "/",
    "=",
    " ",
    "\n",
    "\r\n",
    "\0",
    "a",
    "é",
    "語",
    "<script>",
    "</p>",
    "<br>",
    "<!--",
    "<!channel>",
    "<@U123>",
    "&amp;",
    "&lt;",
    "&#x3c;",
    "onerror=",
    "javascript:",
    "JavaScript:",
    "data:",
    "https://",
    "http://x.example/",
    "https://y.example/a?b=1&c=2",
    "](",
    "[x](javascript:alert(1))",
];

/// Any text, mostly built of [`FRAGMENTS`], up to `max` of them.
pub(crate) fn hostile_text(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(FRAGMENTS), 0..max).prop_map(|parts| parts.concat()),
        1 => any::<String>(),
    ]
    .boxed()
}

/// An answer citing `sources` (id, title, source URI) with `text`.
pub(crate) fn answer_with(text: String, sources: Vec<(String, Option<String>, Option<String>)>) -> Answer {
    let mut a = answer();
    a.answer = text;
    a.citations = sources
        .into_iter()
        .map(|(id, title, source_uri)| CitedSource { id, document_id: None, title, source_uri, spans: Vec::new() })
        .collect();
    a
}

/// Any answer with up to `citations` sources, each part hostile.
pub(crate) fn hostile_answer(fragments: usize, citations: usize) -> impl Strategy<Value = Answer> {
    let source = (hostile_text(6), prop::option::of(hostile_text(6)), prop::option::of(hostile_text(6)));
    (hostile_text(fragments), prop::collection::vec(source, 0..citations))
        .prop_map(|(text, sources)| answer_with(text, sources))
}

#[test]
fn a_hostile_source_is_text_in_every_format() {
    let a = answer_with(
        "see [x]".into(),
        vec![("x".into(), Some("<img src=x onerror=alert(1)>".into()), Some("javascript:alert(1)".into()))],
    );
    let html = message(None, OutputFormat::Html, &a).unwrap();
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; — javascript:alert(1)"), "{html}");
    assert!(!html.contains("<img") && !html.contains("href"), "{html}");
    let markdown = message(None, OutputFormat::Markdown, &a).unwrap();
    assert!(markdown.ends_with("- `x` \\<img src=x onerror=alert\\(1\\)\\> — javascript:alert\\(1\\)"), "{markdown}");
    let link =
        answer_with("see [y]".into(), vec![("y".into(), Some("a] [b".into()), Some("https://w.example/x)y".into()))]);
    let markdown = message(None, OutputFormat::Markdown, &link).unwrap();
    assert!(markdown.ends_with("- `y` [a\\] \\[b](https://w.example/x%29y)"), "{markdown}");
    let text = message(None, OutputFormat::Text, &a).unwrap();
    assert!(text.ends_with("[x] <img src=x onerror=alert(1)> — javascript:alert(1)"), "{text}");
}

/// What a browser makes of the built-in HTML: each element's name and attributes in
/// document order, and the text of the answer's paragraph (`<br>` as a line break).
/// An element's name and its attributes (name, value).
type Element = (String, Vec<(String, String)>);

fn parse_html(html: &str) -> (Vec<Element>, String) {
    use html5ever::tendril::TendrilSink;
    use markup5ever_rcdom::{Handle, NodeData, RcDom};

    fn walk(node: &Handle, elements: &mut Vec<Element>, paragraph: &mut String, in_p: bool) {
        match &node.data {
            NodeData::Element { name, attrs, .. } => {
                let tag = name.local.to_string();
                let attrs = attrs.borrow().iter().map(|a| (a.name.local.to_string(), a.value.to_string())).collect();
                elements.push((tag.clone(), attrs));
                if in_p && tag == "br" {
                    paragraph.push('\n');
                }
                for child in node.children.borrow().iter() {
                    walk(child, elements, paragraph, in_p || tag == "p");
                }
            }
            NodeData::Text { contents } if in_p => paragraph.push_str(&contents.borrow()),
            _ => {
                for child in node.children.borrow().iter() {
                    walk(child, elements, paragraph, in_p);
                }
            }
        }
    }
    let dom = html5ever::parse_document(RcDom::default(), Default::default()).one(html);
    let (mut elements, mut paragraph) = (Vec::new(), String::new());
    walk(&dom.document, &mut elements, &mut paragraph, false);
    (elements, paragraph)
}

/// Text as an HTML parser hands it on: line breaks as `\n`, NUL dropped.
fn as_parsed(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n").replace('\0', "")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever an answer, a title, an id or a source URI holds, the built-in HTML has
    /// only the template's own elements, links only to web addresses, and shows each value
    /// as its text.
    #[test]
    fn any_answer_and_sources_are_only_text_in_the_html(a in hostile_answer(40, 4)) {
        let html = message(None, OutputFormat::Html, &a).unwrap();
        let (elements, paragraph) = parse_html(&html);
        let links: Vec<&String> =
            a.citations.iter().filter_map(|c| c.source_uri.as_ref()).filter(|u| escape::is_web_link(u)).collect();
        let count = |tag: &str| elements.iter().filter(|(name, _)| name == tag).count();
        let cited = a.citations.len();
        prop_assert_eq!(count("br"), as_parsed(&a.answer).matches('\n').count(), "{}", html);
        for (tag, expected) in [("div", 1), ("p", 1), ("h4", usize::from(cited > 0)), ("ol", usize::from(cited > 0)),
            ("li", cited), ("code", cited), ("a", links.len())] {
            prop_assert_eq!(count(tag), expected, "<{}> in {}", tag, html);
        }
        let known = ["html", "head", "body", "div", "p", "br", "h4", "ol", "li", "code", "a"];
        prop_assert!(elements.iter().all(|(name, _)| known.contains(&name.as_str())), "{}", html);
        let hrefs: Vec<&String> = elements.iter().flat_map(|(_, attrs)| attrs).filter(|(n, _)| n == "href").map(|(_, v)| v).collect();
        prop_assert_eq!(hrefs, links, "{}", html);
        let attributes = elements.iter().flat_map(|(_, attrs)| attrs).filter(|(n, _)| n != "href" && n != "class").count();
        prop_assert_eq!(attributes, 0, "{}", html);
        prop_assert_eq!(paragraph, as_parsed(&a.answer), "{}", html);
    }
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
