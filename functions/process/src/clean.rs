//! Cleaning extracted text: the whitespace, hyphenation and page furniture that extraction
//! leaves behind. Pure: no I/O.

use std::borrow::Cow;
use std::collections::HashMap;

/// `text` without control characters but line breaks and tabs, as ingest leaves the text
/// formats it normalises. Extraction can make them where ingest saw none: a PDF's glyphs
/// without a character (`\000`), a JSON string's `\u0000`. PostgreSQL cannot store a NUL, so
/// such a document would fail in the indexer on every retry.
pub fn without_controls(text: &str) -> Cow<'_, str> {
    let kept = |c: char| !c.is_control() || matches!(c, '\n' | '\r' | '\t');
    if text.chars().all(kept) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| kept(c)).collect())
    }
}

/// Spaces and tabs within a line collapse to one space, lines lose trailing whitespace,
/// runs of blank lines become one, and words hyphenated across a line break are joined.
///
/// Runs of spaces and tabs collapse without keeping indentation: Markdown indentation is not
/// significant for retrieval, and extracted text's often is noise.
pub fn clean(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in join_hyphenated(text) {
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            blank_run += 1;
            continue;
        };
        if !cleaned.is_empty() {
            cleaned.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        cleaned.push_str(first);
        for word in words {
            cleaned.push(' ');
            cleaned.push_str(word);
        }
    }
    cleaned
}

/// "exam-\nple" → "example\n": a letter, a hyphen ending the line, and a lower-case letter
/// starting the next. The word's first half moves down, so line breaks stay where they were.
/// Compound words split elsewhere ("e-mail") and hyphens before capitals are left alone.
/// Lines are copied only where a word moves.
fn join_hyphenated(text: &str) -> Vec<Cow<'_, str>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut joined = Vec::with_capacity(lines.len());
    let mut carry = String::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            joined.push(Cow::Borrowed(""));
            continue;
        }
        let mut line =
            if carry.is_empty() { Cow::Borrowed(*line) } else { Cow::Owned(format!("{carry}{}", line.trim_start())) };
        carry.clear();
        // Extractors often put blank lines between a page's lines: look past them.
        let next_starts_lower = lines[i + 1..]
            .iter()
            .find(|next| !next.trim().is_empty())
            .and_then(|next| next.trim_start().chars().next())
            .is_some_and(char::is_lowercase);
        let end = line.trim_end().len();
        let hyphenated =
            line[..end].strip_suffix('-').and_then(|head| head.chars().last()).is_some_and(char::is_alphabetic);
        if next_starts_lower && hyphenated {
            let head = &line[..end - 1];
            // After the last whitespace character, which may be wider than a byte (U+00A0).
            let split = head.char_indices().rfind(|(_, c)| c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8());
            carry = head[split..].to_owned();
            line = Cow::Owned(head[..split].trim_end().to_owned());
        }
        joined.push(line);
    }
    joined
}

/// Cleans each page and joins them with a blank line. Returns the text and the character
/// offset at which each page starts in it, for citing page numbers.
pub fn clean_pages(pages: &[String]) -> (String, Vec<u64>) {
    let mut text = String::new();
    let mut starts = Vec::with_capacity(pages.len());
    let mut chars = 0u64;
    for page in pages {
        let cleaned = clean(page);
        if !text.is_empty() && !cleaned.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        starts.push(chars);
        chars += cleaned.chars().count() as u64;
        text.push_str(&cleaned);
    }
    (text, starts)
}

/// The 1-based page a character offset falls on, given each page's starting offset.
pub fn page_at(page_starts: &[u64], offset: u64) -> Option<u32> {
    let pages_started = page_starts.partition_point(|start| *start <= offset);
    (pages_started > 0).then_some(pages_started as u32)
}

/// Removes page headers and footers: a page's first or last non-blank line that recurs on
/// at least half the pages (and on three or more). Digits are ignored when comparing, so
/// "Page 3 of 9" matches "Page 4 of 9".
pub fn strip_page_furniture(pages: &[String]) -> Vec<String> {
    if pages.len() < 3 {
        return pages.to_vec();
    }
    let shape = |line: &str| line.trim().chars().filter(|c| !c.is_ascii_digit()).collect::<String>();
    let edges = |page: &String| -> Vec<String> {
        let lines: Vec<&str> = page.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut edges: Vec<String> = lines.first().into_iter().chain(lines.last()).map(|l| shape(l)).collect();
        edges.dedup();
        edges
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for page in pages {
        for edge in edges(page) {
            *counts.entry(edge).or_default() += 1;
        }
    }
    let threshold = pages.len().div_ceil(2).max(3);
    let furniture: Vec<String> = counts.into_iter().filter(|(_, n)| *n >= threshold).map(|(shape, _)| shape).collect();
    pages
        .iter()
        .map(|page| {
            let lines: Vec<&str> = page.lines().collect();
            let content: Vec<usize> = (0..lines.len()).filter(|i| !lines[*i].trim().is_empty()).collect();
            let (first, last) = (content.first().copied(), content.last().copied());
            lines
                .iter()
                .enumerate()
                .filter(|(i, line)| {
                    let at_edge = Some(*i) == first || Some(*i) == last;
                    !(at_edge && furniture.contains(&shape(line)))
                })
                .map(|(_, line)| *line)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_and_blank_lines_are_normalised() {
        assert_eq!(clean("  a \t b  \n\n\n\nc   \n"), "a b\n\nc");
    }

    #[test]
    fn words_broken_across_lines_are_joined() {
        assert_eq!(clean("the exam-\nple shows\nanother line"), "the\nexample shows\nanother line");
        assert_eq!(clean("an e-mail and a\nco-\nOperative"), "an e-mail and a\nco-\nOperative");
        // Found by the `chunk` fuzz target: a no-break space before the word panicked.
        assert_eq!(clean("one\u{a0}exam-\nple"), "one\nexample");
        assert_eq!(clean("through the reim-\n\nbursement form"), "through the\n\nreimbursement form");
    }

    #[test]
    fn repeated_headers_and_footers_leave_paged_text() {
        let pages: Vec<String> =
            (1..=4).map(|n| format!("ACME Annual Report\n\nBody of page {n}.\n\nPage {n} of 4")).collect();
        let stripped = strip_page_furniture(&pages);
        assert_eq!(stripped[1].trim(), "Body of page 2.");
        assert!(stripped.iter().all(|p| !p.contains("ACME") && !p.contains("of 4")));
    }

    #[test]
    fn pages_are_joined_and_located() {
        let pages = vec!["first  page".to_owned(), "".to_owned(), "third\n\n\npage".to_owned()];
        let (text, starts) = clean_pages(&pages);
        assert_eq!(text, "first page\n\nthird\n\npage");
        assert_eq!(starts, [0, 10, 12]);
        let at = |offset| page_at(&starts, offset);
        assert_eq!((at(0), at(9), at(11), at(12)), (Some(1), Some(1), Some(2), Some(3)));
        assert_eq!(page_at(&[], 5), None);
    }

    #[test]
    fn short_documents_keep_their_edges() {
        let pages = vec!["Title\nbody".to_owned(), "Title\nmore".to_owned()];
        assert_eq!(strip_page_furniture(&pages), pages);
    }
}
