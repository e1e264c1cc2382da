//! Which part of an answer each cited source supports: every sentence that carries the
//! source's `[id]` mark. The spans are computed from the final text (after any guardrail
//! masking), so they hold for every model provider that marks its sentences as the prompt asks.
//!
//! A span is `[start, end)` in Unicode code points (`chars`) of the answer's text. A mark after
//! a sentence's full stop (`days. [id] Next`) belongs to that sentence. A mark closing a run
//! of sentences of one paragraph (`One. Two. [id]`, as the offline model writes them) covers
//! each sentence of the run not covered by an earlier mark.

use seams_contracts::infer::{citation_marks, CitationMark};
use seams_contracts::output::TextSpan;
use unicode_segmentation::UnicodeSegmentation;

/// The marks of `text` that name a cited id, with only those ids.
fn marks<'a>(text: &'a str, cited: &[String]) -> Vec<CitationMark<'a>> {
    citation_marks(text)
        .into_iter()
        .map(|mark| CitationMark {
            ids: mark.ids.into_iter().filter(|id| cited.iter().any(|c| c == id)).collect(),
            ..mark
        })
        .filter(|mark| !mark.ids.is_empty())
        .collect()
}

/// For each id of `cited`, in order, the spans of `text` it supports (none when it is never
/// marked).
pub fn citation_spans(text: &str, cited: &[String]) -> Vec<Vec<TextSpan>> {
    let marks = marks(text, cited);
    // Sentences are found with the marks blanked out (same byte offsets): a mark's lower-case
    // id would otherwise keep "days. [id] Next" in one sentence, and a mark after a full stop
    // then trails the sentence it cites, as whitespace does.
    let mut blanked = text.to_owned();
    for mark in &marks {
        blanked.replace_range(mark.range.clone(), &" ".repeat(mark.range.len()));
    }
    let mut spans: Vec<Vec<TextSpan>> = vec![Vec::new(); cited.len()];
    let mut offsets = CharOffsets { text, byte: 0, chars: 0 };
    // Sentences of this paragraph not yet covered by a mark: the next mark covers them too.
    let mut unmarked: Vec<(usize, usize)> = Vec::new();
    for (start, sentence) in blanked.split_sentence_bound_indices() {
        let end = start + sentence.len();
        let lead = sentence.len() - sentence.trim_start().len();
        let span = (start + lead, start + sentence.trim_end().len());
        if span.0 < span.1 {
            // Marks come in text order: the sentence's are a slice of them.
            let first = marks.partition_point(|m| m.range.start < start);
            let past = marks.partition_point(|m| m.range.start < end);
            let in_sentence = &marks[first..past];
            if in_sentence.is_empty() {
                unmarked.push(span);
            } else {
                for (from, to) in unmarked.drain(..).chain([span]) {
                    let covered = TextSpan { start: offsets.at(from), end: offsets.at(to) };
                    in_sentence.iter().for_each(|mark| attribute(&mut spans, cited, mark, covered));
                }
            }
        }
        if sentence.contains('\n') {
            unmarked.clear();
        }
    }
    spans
}

/// Byte offsets of a text as offsets in characters, counted on from the last one asked:
/// spans are asked for in text order, so the text is counted once, not once a span.
struct CharOffsets<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl CharOffsets<'_> {
    fn at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            (self.byte, self.chars) = (0, 0);
        }
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }
}

/// Gives `span` to each cited id `mark` names. A span reaches an id again only from another
/// mark of the same sentence, right after its first time.
fn attribute(spans: &mut [Vec<TextSpan>], cited: &[String], mark: &CitationMark, span: TextSpan) {
    for id in &mark.ids {
        if let Some(i) = cited.iter().position(|c| c == id) {
            if spans[i].last() != Some(&span) {
                spans[i].push(span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spans_of(text: &str, cited: &[&str]) -> Vec<Vec<String>> {
        let cited: Vec<String> = cited.iter().map(|s| s.to_string()).collect();
        let chars: Vec<char> = text.chars().collect();
        citation_spans(text, &cited)
            .into_iter()
            .map(|spans| spans.iter().map(|s| chars[s.start..s.end].iter().collect()).collect())
            .collect()
    }

    #[test]
    fn each_id_gets_the_sentences_that_mark_it() {
        let text = "Refunds take 14 days [refunds:1:0]. Digital goods are final [terms:2:1]. Both apply [refunds:1:0, terms:2:1].";
        assert_eq!(
            spans_of(text, &["refunds:1:0", "terms:2:1"]),
            [
                vec!["Refunds take 14 days [refunds:1:0].", "Both apply [refunds:1:0, terms:2:1]."],
                vec!["Digital goods are final [terms:2:1].", "Both apply [refunds:1:0, terms:2:1]."],
            ]
        );
    }

    #[test]
    fn a_mark_after_the_full_stop_belongs_to_the_sentence_before() {
        let text = "Refunds take 14 days. [refunds:1:0] Shipping is free. [ship:1:0]";
        assert_eq!(
            spans_of(text, &["refunds:1:0", "ship:1:0"]),
            [vec!["Refunds take 14 days."], vec!["Shipping is free."]]
        );
    }

    #[test]
    fn a_mark_closing_a_run_covers_its_unmarked_sentences_in_that_paragraph_only() {
        let text =
            "Deploys go from main. None on Fridays. [deploys:1:0]\nPages are answered in 15 minutes. [oncall:1:0]";
        assert_eq!(
            spans_of(text, &["deploys:1:0", "oncall:1:0"]),
            [vec!["Deploys go from main.", "None on Fridays."], vec!["Pages are answered in 15 minutes."]]
        );
        let unsupported = "Refunds take 14 days [refunds:1:0]. Be patient. Shipping is free [ship:1:0].";
        assert_eq!(
            spans_of(unsupported, &["refunds:1:0", "ship:1:0"]),
            [vec!["Refunds take 14 days [refunds:1:0]."], vec!["Be patient.", "Shipping is free [ship:1:0]."]],
            "an unmarked sentence goes with the mark that follows it"
        );
        let trailing = "Answered [a:1:0].\nNo source here.";
        assert_eq!(spans_of(trailing, &["a:1:0"]), [vec!["Answered [a:1:0]."]], "nothing covers the last line");
    }

    #[test]
    fn spans_count_characters_not_bytes_and_ignore_unknown_marks() {
        let text = "Café crème costs €3 [menu:1:0]. See [1] and [other].";
        let cited = vec!["menu:1:0".to_owned()];
        let spans = citation_spans(text, &cited);
        assert_eq!(spans, [vec![TextSpan { start: 0, end: 31 }]]);
        assert_eq!(text.chars().take(31).collect::<String>(), "Café crème costs €3 [menu:1:0].");
        assert_eq!(citation_spans("No marks at all.", &cited), [Vec::<TextSpan>::new()]);
        assert_eq!(
            citation_spans("[menu:1:0] opens the text.", &cited),
            [vec![TextSpan { start: 11, end: 26 }]],
            "no sentence before: its own"
        );
    }

    /// Pieces of answers: marks, ids, sentence ends, line breaks, spaces of several kinds
    /// (no-break, ideographic, next-line) and characters of several byte lengths.
    const PIECES: &[&str] = &[
        "[",
        "]",
        ", ",
        ";",
        " ",
        ". ",
        "! ",
        "?",
        "\n",
        "\r\n",
        "\u{a0}",
        "\u{3000}",
        "\u{85}",
        "\u{2029}",
        "é",
        "€",
        "語",
        "👍",
        "a:1:0",
        "b",
        "É",
        "Mr. ",
        "3.5",
        "[a:1:0]",
        "[b, é]",
        "[ a:1:0 ;b ]",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any answer: no panic, and every span is a non-empty stretch of the text, trimmed,
        /// for an id that some mark in the text names.
        #[test]
        fn any_answer_gets_spans_inside_its_text(
            parts in prop::collection::vec(prop::sample::select(PIECES), 0..60),
            cited in prop::collection::vec(prop::sample::select(&["a:1:0", "b", "é", "c"][..]), 0..4),
        ) {
            let text = parts.concat();
            let cited: Vec<String> = cited.into_iter().map(str::to_owned).collect();
            let chars: Vec<char> = text.chars().collect();
            let spans = citation_spans(&text, &cited);
            prop_assert_eq!(spans.len(), cited.len());
            for (id, spans) in cited.iter().zip(&spans) {
                prop_assert!(spans.is_empty() || citation_marks(&text).iter().any(|m| m.ids.contains(&id.as_str())));
                for span in spans {
                    prop_assert!(span.start < span.end && span.end <= chars.len(), "{:?} in {:?}", span, text);
                    let covered: String = chars[span.start..span.end].iter().collect();
                    prop_assert_eq!(covered.trim(), covered.as_str());
                }
            }
        }
    }
}
