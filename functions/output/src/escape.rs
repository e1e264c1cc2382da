//! Text from a document or a model, kept as text in a delivery. Titles, source URIs and
//! answers come from whatever was ingested and from a model that read it, so none of them
//! may act as markup where the message is shown: not as HTML in an email (minijinja's
//! auto-escape does that), not as Slack's control sequences (`<!channel>` notifies a whole
//! channel), not as a Markdown link, and a source URI becomes a link only if it is a web
//! address (`javascript:` and `data:` never do).

/// Whether `uri` may be shown as a link: `http` or `https`, a host, and none of the
/// characters RFC 3986 leaves out of a URI (space, controls, `<>"\^`{}|`), so it cannot end a
/// Markdown destination, a Slack link or an HTML attribute early.
pub fn is_web_link(uri: &str) -> bool {
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &uri[8..]
    } else if lower.starts_with("http://") {
        &uri[7..]
    } else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"\\^`{}|".contains(c))
}

/// Slack's three control characters as the entities Slack asks for; nothing else changes, so
/// `*bold*` in an answer still formats.
pub fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text that reads as itself inside Markdown, link text included: punctuation that could
/// open a link, a code span, emphasis, an HTML tag or an entity is backslash-escaped
/// (CommonMark lets any ASCII punctuation be), and line breaks become spaces.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '!' | '#' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A web link (`is_web_link`) as a Markdown link destination: its parentheses
/// percent-encoded, so an unbalanced one cannot end the link early.
pub fn markdown_destination(uri: &str) -> String {
    uri.replace('(', "%28").replace(')', "%29")
}

/// An id as a Markdown code span, unless a backtick in it would end the span early: then as
/// escaped text.
pub fn markdown_code(text: &str) -> String {
    match text.contains('`') || text.contains(['\r', '\n']) {
        true => markdown_text(text),
        false => format!("`{text}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_are_links() {
        for good in ["https://intra/refunds", "HTTP://example.com/a?b=c&d=e#f", "https://例え.jp/ページ"] {
            assert!(is_web_link(good), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>",
            "s3://bucket/key",
            "https://",
            "https:///path",
            "//example.com",
            "https://a.example/\"onmouseover=\"x",
            "https://a.example/<b>",
            "https://a.example/x y",
            "https://a.example/x\ny",
            "https://a.example/a|b",
            "https://a.example/a\\>",
            "é",
        ] {
            assert!(!is_web_link(bad), "{bad}");
        }
    }

    #[test]
    fn mrkdwn_escapes_slacks_control_characters_only() {
        assert_eq!(mrkdwn("<!channel> *a* & <https://x|y>"), "&lt;!channel&gt; *a* &amp; &lt;https://x|y&gt;");
    }

    #[test]
    fn markdown_text_cannot_open_a_link_or_a_tag() {
        assert_eq!(
            markdown_text("x](javascript:alert(1)) <b>\nnext"),
            "x\\]\\(javascript:alert\\(1\\)\\) \\<b\\> next"
        );
        assert_eq!(markdown_destination("https://w.example/A_(b)_c)"), "https://w.example/A_%28b%29_c%29");
        assert_eq!(markdown_code("doc:1:0"), "`doc:1:0`");
        assert_eq!(markdown_code("a` [x](y) `"), "a\\` \\[x\\]\\(y\\) \\`");
    }
}
