//! Where a Markdown text may be cut, and how good a place each is: the structure the
//! chunker keeps whole when it can. Pure: no I/O.

/// How strong a cut at a position is, weakest first: a chunk ends at the strongest break
/// that fits, so it holds whole sections, else whole paragraphs, lines, sentences, words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Break {
    /// Inside a word: only for a word longer than a chunk.
    Inside,
    Word,
    Sentence,
    Line,
    Paragraph,
    /// Before a heading; a level-1 heading (`# `) is the strongest within a text.
    Heading(HeadingRank),
    /// The end of the text.
    End,
}

/// A heading's strength: 6 for `#`, 1 for `######`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeadingRank(u8);

/// An ATX heading (`## Title`) outside code fences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// Byte offset of the heading's line.
    pub offset: usize,
    /// 1 for `#` to 6 for `######`.
    pub level: usize,
    pub title: String,
}

/// The headings of `text`, in order, in one pass over its lines.
pub fn headings(text: &str) -> Vec<Heading> {
    let mut found = Vec::new();
    let mut in_fence = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        } else if !in_fence {
            let level = trimmed.bytes().take_while(|b| *b == b'#').count();
            let title = trimmed[level..].trim();
            if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') && !title.is_empty() {
                let title = title.trim_end_matches('#').trim().to_owned();
                found.push(Heading { offset: offset + line.len() - line.trim_start().len(), level, title });
            }
        }
        offset += line.len();
    }
    found
}

/// Classifies cut positions asked for in increasing order, walking the headings once.
pub struct Breaks<'a> {
    text: &'a [u8],
    headings: &'a [Heading],
    next_heading: usize,
}

impl<'a> Breaks<'a> {
    pub fn new(text: &'a str, headings: &'a [Heading]) -> Self {
        Self { text: text.as_bytes(), headings, next_heading: 0 }
    }

    /// The break at byte `at`, judged by the run of whitespace around it and what follows.
    pub fn at(&mut self, at: usize) -> Break {
        let text = self.text;
        let before = text[..at].iter().rev().take_while(|b| b.is_ascii_whitespace()).count();
        let after = text[at..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        if before + after == 0 {
            return Break::Inside;
        }
        let (run_start, next) = (at - before, at + after);
        let newlines = text[run_start..next].iter().filter(|b| **b == b'\n').count();
        if newlines > 0 || run_start == 0 {
            if let Some(level) = self.heading_at(next) {
                return Break::Heading(HeadingRank(7 - level.min(6) as u8));
            }
        }
        match newlines {
            0 if ends_sentence(&text[..run_start]) => Break::Sentence,
            0 => Break::Word,
            1 => Break::Line,
            _ => Break::Paragraph,
        }
    }

    /// The level of the heading that starts at byte `at`, if one does.
    fn heading_at(&mut self, at: usize) -> Option<usize> {
        while self.headings.get(self.next_heading).is_some_and(|h| h.offset < at) {
            self.next_heading += 1;
        }
        self.headings.get(self.next_heading).filter(|h| h.offset == at).map(|h| h.level)
    }
}

/// The sentences of `text` as trimmed byte ranges, in order: text between sentence ends,
/// paragraph breaks and headings. A line break ends a sentence only after `.`, `!` or `?`
/// or a heading, so wrapped lines stay one sentence.
pub fn sentences(text: &str) -> Vec<std::ops::Range<usize>> {
    let headings = headings(text);
    let heading_ends: Vec<usize> = headings
        .iter()
        .map(|h| h.offset + text[h.offset..].split('\n').next().map_or(0, |line| line.trim_end().len()))
        .collect();
    let mut classify = Breaks::new(text, &headings);
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut start = None;
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_whitespace() {
            start.get_or_insert(at);
            at += 1;
            continue;
        }
        let run_end = at + bytes[at..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        if let Some(from) = start {
            let ends = match classify.at(at) {
                Break::Inside | Break::Word => false,
                Break::Line => ends_sentence(&bytes[..at]) || heading_ends.binary_search(&at).is_ok(),
                _ => true,
            };
            if ends {
                found.push(from..at);
                start = None;
            }
        }
        at = run_end;
    }
    if let Some(from) = start {
        found.push(from..text.trim_end().len());
    }
    found
}

/// Whether text ending here ends a sentence: `.`, `!` or `?`, perhaps inside closing quotes
/// or brackets.
fn ends_sentence(text: &[u8]) -> bool {
    let mut tail = text.iter().rev().skip_while(|b| matches!(b, b'"' | b'\'' | b')' | b']' | b'*' | b'_'));
    matches!(tail.next(), Some(b'.' | b'!' | b'?'))
}

/// The headings in force at a byte offset: for each level, the last heading before it,
/// deeper ones dropped whenever a shallower heading starts a new section. Offsets are asked
/// for in increasing order, so the walk through the headings is done once, not per chunk.
pub struct HeadingPath<'a> {
    headings: &'a [Heading],
    next: usize,
    path: Vec<(usize, String)>,
}

impl<'a> HeadingPath<'a> {
    pub fn new(headings: &'a [Heading]) -> Self {
        Self { headings, next: 0, path: Vec::new() }
    }

    pub fn at(&mut self, byte: usize) -> Vec<String> {
        if self.next > 0 && self.headings[self.next - 1].offset > byte {
            // Asked about an earlier offset: walk again from the start.
            self.next = 0;
            self.path.clear();
        }
        while let Some(heading) = self.headings.get(self.next) {
            if heading.offset > byte {
                break;
            }
            self.path.retain(|(level, _)| *level < heading.level);
            self.path.push((heading.level, heading.title.clone()));
            self.next += 1;
        }
        self.path.iter().map(|(_, title)| title.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn break_before(text: &str, needle: &str) -> Break {
        let headings = headings(text);
        let at = text.find(needle).unwrap();
        Breaks::new(text, &headings).at(at)
    }

    #[test]
    fn breaks_rank_structure_over_prose() {
        let text = "# Top\n\nOne. Two three\nfour\n\n## Sub\n\nfive\n\n# Next\n\nsix";
        assert_eq!(break_before(text, "Two"), Break::Sentence);
        assert_eq!(break_before(text, "three"), Break::Word);
        assert_eq!(break_before(text, "four"), Break::Line);
        assert_eq!(break_before(text, "five"), Break::Paragraph);
        assert_eq!(break_before(text, "hree"), Break::Inside);
        let sub = break_before(text, "## Sub");
        assert!(matches!(sub, Break::Heading(_)), "{sub:?}");
        assert!(sub < break_before(text, "# Next"), "deeper headings are weaker cuts");
        assert!(Break::Paragraph < sub);
    }

    #[test]
    fn headings_inside_code_fences_are_not_headings() {
        let text = "# Real\n\n```\n# not a heading\n```\n\n## Also real\n";
        let titles: Vec<_> = headings(text).into_iter().map(|h| (h.level, h.title)).collect();
        assert_eq!(titles, [(1, "Real".to_owned()), (2, "Also real".to_owned())]);
        assert_eq!(break_before(text, "# not"), Break::Line);
    }

    #[test]
    fn sentences_end_at_stops_paragraphs_and_headings_not_at_wrapped_lines() {
        let text = "# Title\nFirst one. Second\nwraps here! Third?\n\nNew paragraph\n## Next\nLast";
        let found: Vec<&str> = sentences(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            found,
            ["# Title", "First one.", "Second\nwraps here!", "Third?", "New paragraph", "## Next", "Last"]
        );
        assert!(sentences("  \n ").is_empty());
    }

    #[test]
    fn a_sentence_may_end_inside_quotes() {
        assert_eq!(break_before("He said \"stop.\" Then", "Then"), Break::Sentence);
        assert_eq!(break_before("e.g something", "something"), Break::Word);
    }
}
