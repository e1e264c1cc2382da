//! Token-sized, structure-aware chunks with overlap, each with its heading path and
//! character offsets into the cleaned text. Pure: no I/O.
//!
//! One pass: the text is tokenized once into the tokenizer's own pieces, each with its
//! token count, and every chunk is cut at the strongest break whose running count fits
//! (see [`breaks`]); only the chosen chunk's edges are tokenized again, for its exact size.
//! Other strategies ([`crate::strategy`]) reuse the cut with walls no chunk may cross.

mod breaks;

pub use self::breaks::sentences;

use seams_embeddings::{Piece, TokenCounter};

use self::breaks::{headings, Break, Breaks, Heading, HeadingPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSettings {
    pub max_tokens: usize,
    /// Tokens each chunk shares with the one before it.
    pub overlap_tokens: usize,
}

/// The smallest chunk: a character is up to 4 bytes, so up to 4 of a byte-level BPE's tokens,
/// and a chunk is never cut inside a character. Below this a limit could not be kept.
pub const MIN_CHUNK_TOKENS: usize = 4;

impl ChunkSettings {
    /// `overlap_percent` of `max_tokens`, kept below `max_tokens`; `max_tokens` is at least
    /// [`MIN_CHUNK_TOKENS`].
    pub fn new(max_tokens: usize, overlap_percent: usize) -> Self {
        let max_tokens = max_tokens.max(MIN_CHUNK_TOKENS);
        Self { max_tokens, overlap_tokens: (max_tokens * overlap_percent / 100).min(max_tokens - 1) }
    }
}

impl Default for ChunkSettings {
    fn default() -> Self {
        Self::new(300, 10)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub ordinal: u32,
    pub text: String,
    /// Character (not byte) offsets into the text that was chunked.
    pub char_start: u64,
    pub char_end: u64,
    pub token_count: u32,
    /// The Markdown headings the chunk sits under, outermost first.
    pub heading_path: Vec<String>,
    /// The page the chunk starts on, for paged documents (set by the caller, who knows pages).
    pub page: Option<u32>,
    /// The ordinal of the parent chunk that holds it (hierarchical chunking).
    pub parent: Option<u32>,
}

/// Splits `text` (Markdown or plain) into chunks of at most `settings.max_tokens` tokens as
/// `tokenizer` counts them. Markdown-aware: it prefers to split at headings, then
/// paragraphs, lines, sentences, words; a word is cut only when it alone is over the limit.
pub fn chunk(text: &str, settings: ChunkSettings, tokenizer: &dyn TokenCounter) -> Vec<Chunk> {
    chunk_between(text, settings, tokenizer, &[])
}

/// [`chunk`], with walls: byte offsets (where a sentence or section ends) that no chunk and
/// no overlap crosses.
pub fn chunk_between(text: &str, settings: ChunkSettings, tokenizer: &dyn TokenCounter, walls: &[usize]) -> Vec<Chunk> {
    let headings = headings(text);
    let spans = Cutter::new(text, &headings, settings, tokenizer, walls).spans();
    to_chunks(text, &headings, &spans)
}

/// Parent chunks of `parent_tokens` without overlap, and child chunks of `settings` inside
/// them, each child knowing its parent's ordinal.
pub fn chunk_hierarchy(
    text: &str,
    parent_tokens: usize,
    settings: ChunkSettings,
    tokenizer: &dyn TokenCounter,
) -> (Vec<Chunk>, Vec<Chunk>) {
    let headings = headings(text);
    let parent_settings = ChunkSettings::new(parent_tokens, 0);
    let parent_spans = Cutter::new(text, &headings, parent_settings, tokenizer, &[]).spans();
    let walls: Vec<usize> = parent_spans.iter().map(|span| span.end).collect();
    let child_spans = Cutter::new(text, &headings, settings, tokenizer, &walls).spans();
    let mut children = to_chunks(text, &headings, &child_spans);
    let mut parent = 0;
    for (child, span) in children.iter_mut().zip(&child_spans) {
        while parent + 1 < parent_spans.len() && parent_spans[parent].end <= span.start {
            parent += 1;
        }
        child.parent = Some(parent as u32);
    }
    (to_chunks(text, &headings, &parent_spans), children)
}

/// The whole text as one chunk, however long; None when it is only whitespace.
pub fn whole(text: &str, tokenizer: &dyn TokenCounter) -> Option<Chunk> {
    let trimmed = text.trim();
    let start = text.len() - text.trim_start().len();
    let span = Span { start, end: start + trimmed.len(), tokens: tokenizer.count(trimmed) };
    (!trimmed.is_empty()).then(|| to_chunks(text, &headings(text), &[span]).remove(0))
}

fn to_chunks(text: &str, headings: &[Heading], spans: &[Span]) -> Vec<Chunk> {
    let mut heading_path = HeadingPath::new(headings);
    let mut chars_before = CharOffsets::new(text);
    spans
        .iter()
        .enumerate()
        .map(|(ordinal, span)| {
            let piece = &text[span.start..span.end];
            let char_start = chars_before.at(span.start);
            Chunk {
                ordinal: ordinal as u32,
                text: piece.to_owned(),
                char_start,
                char_end: char_start + piece.chars().count() as u64,
                token_count: u32::try_from(span.tokens).unwrap_or(u32::MAX),
                heading_path: heading_path.at(span.start),
                page: None,
                parent: None,
            }
        })
        .collect()
}

/// A chunk before it is copied out: trimmed byte range and exact token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    tokens: usize,
}

/// The greedy cut over the text's pieces. Positions are piece boundaries: boundary `i` is
/// where piece `i` starts, `bounds[i].end` bytes in, with `bounds[i].tokens` tokens before it.
struct Cutter<'a> {
    text: &'a str,
    settings: ChunkSettings,
    tokenizer: &'a dyn TokenCounter,
    bounds: Vec<Piece>,
    breaks: Vec<Break>,
    /// The boundaries no chunk crosses (their break is `End`), in order; the last is the text's end.
    walls: Vec<usize>,
    /// The walls as given (byte offsets): a parent cut inside a word over the limit is a
    /// wall inside one piece, which only [`Self::oversized`] can honour.
    wall_offsets: Vec<usize>,
}

impl<'a> Cutter<'a> {
    fn new(
        text: &'a str,
        headings: &[Heading],
        settings: ChunkSettings,
        tokenizer: &'a dyn TokenCounter,
        walls: &[usize],
    ) -> Self {
        // The pieces become the boundaries in place (a large text has millions of them).
        let mut bounds = tokenizer.pieces(text);
        let mut before = 0;
        for bound in &mut bounds {
            before += bound.tokens;
            bound.tokens = before;
        }
        bounds.insert(0, Piece { end: 0, tokens: 0 });
        let mut classify = Breaks::new(text, headings);
        let mut breaks: Vec<Break> = bounds.iter().map(|bound| classify.at(bound.end)).collect();
        // A wall sits where whitespace starts: the first boundary at or after it is the cut.
        let mut wall_bounds: Vec<usize> = walls
            .iter()
            .map(|wall| bounds.partition_point(|b| b.end < *wall))
            .filter(|i| *i > 0 && *i < bounds.len())
            .collect();
        wall_bounds.push(bounds.len() - 1);
        wall_bounds.sort_unstable();
        wall_bounds.dedup();
        for wall in &wall_bounds {
            breaks[*wall] = Break::End;
        }
        let mut wall_offsets = walls.to_vec();
        wall_offsets.sort_unstable();
        Self { text, settings, tokenizer, bounds, breaks, walls: wall_bounds, wall_offsets }
    }

    fn spans(&self) -> Vec<Span> {
        let last = self.bounds.len() - 1;
        let mut spans = Vec::new();
        let mut start = 0;
        // Where the last chunk ended: the next must reach past it.
        let mut covered = 0;
        while start < last {
            let Some((end, chunks)) = self.next_chunks(start, covered) else {
                // Nothing new fits after an overlapping start: start where the last ended.
                start = covered.max(start + 1);
                continue;
            };
            let after = chunks.first().map_or(self.bounds[start].end, |span| span.start);
            spans.extend(chunks);
            // Whitespace after the chunk is not new text for the next one.
            covered = end;
            while covered < last && self.between(covered, covered + 1).trim().is_empty() {
                covered += 1;
            }
            start = if self.settings.overlap_tokens == 0 || self.breaks[end] == Break::End {
                end
            } else {
                self.overlap_start(after, end)
            };
        }
        spans
    }

    /// The chunk that starts at boundary `start` and ends past `covered`: its end boundary
    /// and its span (none when it is only whitespace; several when one piece alone is over
    /// the limit). None when no such end fits.
    fn next_chunks(&self, start: usize, covered: usize) -> Option<(usize, Vec<Span>)> {
        let max = self.settings.max_tokens;
        // The farthest boundary whose running count fits, short of the next wall.
        let fits = self.bounds.partition_point(|b| b.tokens <= self.bounds[start].tokens.saturating_add(max)) - 1;
        let wall = self.walls[self.walls.partition_point(|w| *w <= start).min(self.walls.len() - 1)];
        let mut limit = fits.min(wall);
        loop {
            let first = start.max(covered) + 1;
            if limit < first {
                if start < covered {
                    return None;
                }
                return Some((start + 1, self.oversized(start)));
            }
            let best = self.breaks[first..=limit].iter().max().copied().unwrap_or(Break::Inside);
            // After an overlapping start, only a word break will do: cutting inside a word to
            // keep the overlap would split a word that fits whole without it.
            if start < covered && best < Break::Word {
                return None;
            }
            let end = (first..=limit).rev().find(|i| self.breaks[*i] == best).unwrap_or(limit);
            let Some(span) = self.trimmed(self.bounds[start].end, self.bounds[end].end) else {
                return Some((end, Vec::new()));
            };
            // The running count can be off by a token or two at the edges (a trimmed space
            // joins or leaves a token): the exact count decides.
            let tokens = self.exact_tokens(span, start);
            if tokens <= max {
                return Some((end, vec![Span { tokens, ..span }]));
            }
            limit = end - 1;
        }
    }

    /// The tokens of `span` (trimmed from a run that starts at boundary `first`), as
    /// `count` would give them, from the pieces already counted: only its edges are
    /// tokenized again. The tokenizer's own cut of the chunk rejoins the document's within a
    /// piece or two of the start (checked here, on a few pieces), and from there on matches
    /// it up to the last piece that ends inside the chunk. A chunk too short for that, or
    /// whose cut does not rejoin, is counted whole.
    fn exact_tokens(&self, span: Span, first: usize) -> usize {
        let whole = || self.tokenizer.count(&self.text[span.start..span.end]);
        let tail = self.bounds.partition_point(|b| b.end <= span.end) - 1;
        // Re-cut a few pieces from the start; only boundaries well before the window's end
        // count as rejoined (the window's own end may change how its last piece is cut).
        let window = (first + 4).min(tail);
        if window < first + 3 {
            return whole();
        }
        let mut head = 0;
        let mut boundary = first + 1;
        for piece in self.tokenizer.pieces(&self.text[span.start..self.bounds[window].end]) {
            head += piece.tokens;
            let at = span.start + piece.end;
            while boundary < window - 1 && self.bounds[boundary].end < at {
                boundary += 1;
            }
            if boundary >= window - 1 {
                break;
            }
            if self.bounds[boundary].end == at {
                let middle = self.bounds[tail].tokens - self.bounds[boundary].tokens;
                return head + middle + self.tokenizer.count(&self.text[self.bounds[tail].end..span.end]);
            }
        }
        whole()
    }

    /// Where the chunk after one ending at boundary `end` starts: the earliest word break
    /// after `after` (the chunk's first byte) whose tokens to `end` fit in the overlap, never
    /// back across a paragraph (it would repeat a heading or the end of another topic);
    /// else `end`.
    fn overlap_start(&self, after: usize, end: usize) -> usize {
        let overlap = self.settings.overlap_tokens;
        let earliest = self.bounds.partition_point(|b| b.tokens < self.bounds[end].tokens.saturating_sub(overlap));
        let paragraph = (earliest..end).rev().find(|i| self.breaks[*i] >= Break::Paragraph).unwrap_or(earliest);
        (paragraph..end).find(|i| self.bounds[*i].end > after && self.breaks[*i] >= Break::Word).unwrap_or(end)
    }

    /// A piece longer than a chunk (a word over the limit) cut into the longest prefixes that
    /// fit, and at every wall inside it. Rare, so counting candidate prefixes is fine here.
    fn oversized(&self, piece: usize) -> Vec<Span> {
        let (from, to) = (self.bounds[piece].end, self.bounds[piece + 1].end);
        let within = self.wall_offsets.partition_point(|w| *w <= from)..self.wall_offsets.partition_point(|w| *w < to);
        let inside = self.wall_offsets[within].iter().copied().filter(|w| self.text.is_char_boundary(*w));
        let mut spans = Vec::new();
        let mut part_start = from;
        for part_end in inside.chain([to]) {
            let mut rest = self.trimmed(part_start, part_end);
            while let Some(span) = rest {
                let text = &self.text[span.start..span.end];
                let end = self.longest_prefix(text);
                spans.push(Span {
                    start: span.start,
                    end: span.start + end,
                    tokens: self.tokenizer.count(&text[..end]),
                });
                rest = self.trimmed(span.start + end, span.end);
            }
            part_start = part_end;
        }
        spans
    }

    /// The longest prefix of `text` (at a character boundary, never empty) within the limit.
    /// The window it is sought in grows from a guess, so the work stays near a chunk's size
    /// however long the word.
    fn longest_prefix(&self, text: &str) -> usize {
        let max = self.settings.max_tokens;
        let fits = |end: usize| self.tokenizer.count(&text[..end]) <= max;
        let (mut fitting, mut window) = (0, max.saturating_mul(4));
        let over = loop {
            let end = text.floor_char_boundary(window);
            if end > fitting && !fits(end) {
                break end;
            }
            if end == text.len() {
                return end;
            }
            (fitting, window) = (end, window.saturating_mul(2));
        };
        let between: Vec<usize> = text[fitting..over].char_indices().skip(1).map(|(i, _)| fitting + i).collect();
        match between.partition_point(|end| fits(*end)) {
            0 if fitting == 0 => text.ceil_char_boundary(1),
            0 => fitting,
            n => between[n - 1],
        }
    }

    /// The text from boundary `from` to boundary `to`.
    fn between(&self, from: usize, to: usize) -> &'a str {
        &self.text[self.bounds[from].end..self.bounds[to].end]
    }

    /// `start..end` without surrounding whitespace; None when nothing else is left.
    fn trimmed(&self, start: usize, end: usize) -> Option<Span> {
        let piece = &self.text[start..end];
        let trimmed = piece.trim_start();
        let start = start + piece.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        (!trimmed.is_empty()).then_some(Span { start, end: start + trimmed.len(), tokens: 0 })
    }
}

/// Byte offset → character offset, for offsets visited in increasing order (mostly).
struct CharOffsets<'a> {
    text: &'a str,
    byte: usize,
    chars: u64,
}

impl<'a> CharOffsets<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, byte: 0, chars: 0 }
    }

    fn at(&mut self, byte: usize) -> u64 {
        if byte < self.byte {
            // Overlap moved back: count again from the start.
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += self.text[self.byte..byte].chars().count() as u64;
        self.byte = byte;
        self.chars
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Cl100k;

    const HANDBOOK: &str = "# Handbook\n\nWelcome to the team.\n\n## Expenses\n\nKeep receipts for everything you buy on the company card. Submit them within thirty days.\n\n### Travel\n\nBook trains over flights for trips under four hours. Hotels must be under the city cap.\n\n## Leave\n\nYou have twenty-five days of leave per year, plus public holidays.\n";

    #[test]
    fn chunks_cover_the_text_in_order_within_the_token_limit() {
        let settings = ChunkSettings::new(20, 10);
        let chunks = chunk(HANDBOOK, settings, &Cl100k);
        assert!(chunks.len() > 3, "{chunks:?}");
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.ordinal as usize, i);
            assert!(c.token_count as usize <= settings.max_tokens, "{c:?}");
            assert_eq!(c.token_count as usize, Cl100k.count(&c.text));
            let from_offsets: String =
                HANDBOOK.chars().skip(c.char_start as usize).take((c.char_end - c.char_start) as usize).collect();
            assert_eq!(from_offsets, c.text, "offsets point at the chunk");
        }
        assert!(chunks.windows(2).all(|w| w[0].char_start < w[1].char_start), "in order");
        // Every word of the text is in some chunk.
        for word in HANDBOOK.split_whitespace() {
            assert!(chunks.iter().any(|c| c.text.contains(word)), "{word} lost");
        }
    }

    #[test]
    fn chunks_know_their_headings() {
        let chunks = chunk(HANDBOOK, ChunkSettings::new(30, 0), &Cl100k);
        let travel = chunks.iter().find(|c| c.text.contains("Book trains")).unwrap();
        assert_eq!(travel.heading_path, ["Handbook", "Expenses", "Travel"]);
        let leave = chunks.iter().find(|c| c.text.contains("twenty-five")).unwrap();
        assert_eq!(leave.heading_path, ["Handbook", "Leave"]);
    }

    #[test]
    fn a_text_that_fits_is_one_chunk() {
        let chunks = chunk(HANDBOOK, ChunkSettings::new(500, 10), &Cl100k);
        assert_eq!(chunks.len(), 1, "{chunks:#?}");
        assert_eq!(chunks[0].text, HANDBOOK.trim());
    }

    #[test]
    fn sections_that_fit_stay_whole() {
        let chunks = chunk(HANDBOOK, ChunkSettings::new(40, 0), &Cl100k);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert!(
            texts.iter().any(|t| t.starts_with("### Travel") && t.contains("city cap.")),
            "the Travel section is in one chunk: {texts:#?}"
        );
        assert!(texts.iter().all(|t| t.starts_with('#')), "each chunk starts at a heading: {texts:#?}");
    }

    #[test]
    fn neighbouring_chunks_overlap_when_asked() {
        let text = "word ".repeat(400);
        let chunks = chunk(&text, ChunkSettings::new(50, 20), &Cl100k);
        assert!(
            chunks.windows(2).all(|w| w[1].char_start < w[0].char_end),
            "each chunk starts inside the previous one"
        );
        let without = chunk(&text, ChunkSettings::new(50, 0), &Cl100k);
        assert!(without.windows(2).all(|w| w[1].char_start >= w[0].char_end));
    }

    #[test]
    fn words_are_never_cut() {
        let text = "internationalisation ".repeat(100);
        for c in chunk(&text, ChunkSettings::new(15, 10), &Cl100k) {
            assert!(c.text.split_whitespace().all(|w| w == "internationalisation"), "{:?}", c.text);
        }
    }

    #[test]
    fn a_word_longer_than_a_chunk_is_cut_within_the_limit() {
        let word = "ab".repeat(2000);
        let chunks = chunk(&format!("start {word} end"), ChunkSettings::new(50, 0), &Cl100k);
        assert!(chunks.iter().all(|c| c.token_count <= 50 && c.token_count as usize == Cl100k.count(&c.text)));
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join("");
        assert_eq!(joined.replace(' ', ""), format!("start{word}end"), "nothing lost");
    }

    #[test]
    fn no_chunk_or_overlap_crosses_a_wall() {
        let text = "word ".repeat(100) + &"other ".repeat(100);
        let wall = "word ".len() * 100 - 1;
        let chunks = chunk_between(&text, ChunkSettings::new(30, 30), &Cl100k, &[wall]);
        let wall_char = wall as u64;
        assert!(chunks.iter().all(|c| c.char_end <= wall_char || c.char_start > wall_char), "{chunks:#?}");
        assert!(chunks.iter().any(|c| c.char_end == wall_char), "a chunk ends at the wall");
        assert!(chunks.iter().all(|c| c.token_count <= 30));
        let free = chunk(&text, ChunkSettings::new(30, 30), &Cl100k);
        assert!(free.iter().any(|c| c.char_start < wall_char && c.char_end > wall_char), "without it, one does");
    }

    #[test]
    fn children_sit_inside_their_parents() {
        let text = HANDBOOK.repeat(6);
        let (parents, children) = chunk_hierarchy(&text, 60, ChunkSettings::new(15, 20), &Cl100k);
        assert!(parents.len() > 3 && children.len() > 2 * parents.len(), "{} / {}", parents.len(), children.len());
        assert!(parents.iter().all(|p| p.token_count <= 60) && children.iter().all(|c| c.token_count <= 15));
        assert!(parents.windows(2).all(|w| w[0].char_end <= w[1].char_start), "parents do not overlap");
        for child in &children {
            let parent = &parents[child.parent.unwrap() as usize];
            assert!(
                parent.char_start <= child.char_start && child.char_end <= parent.char_end,
                "{child:?} in {parent:?}"
            );
            assert!(parent.text.contains(&child.text));
        }
        for ordinal in 0..parents.len() {
            assert!(children.iter().any(|c| c.parent == Some(ordinal as u32)), "parent {ordinal} has children");
        }
    }

    #[test]
    fn no_chunk_is_over_the_limit_even_when_one_character_is_several_tokens() {
        // Found by the `chunk` fuzz target (fuzz/regressions/chunk): a limit of 1 token could
        // not hold a character of 2.
        let text = "\u{1de}\u{332} supercalifrag\u{1f600}";
        let settings = ChunkSettings::new(1, 0);
        let chunks = chunk(text, settings, &Cl100k);
        assert!(!chunks.is_empty());
        assert!(chunks.iter().all(|c| c.token_count as usize <= settings.max_tokens), "{chunks:?}");
    }

    #[test]
    fn a_word_longer_than_a_parent_is_cut_where_its_parents_are() {
        // Found by the `chunk` fuzz target (fuzz/seeds/chunk/long-word): the children of a
        // word cut across several parents ignored the parents' cuts inside it.
        let text = format!("{} end.", "supercalifragilistic".repeat(20));
        let (parents, children) = chunk_hierarchy(&text, 16, ChunkSettings::new(4, 50), &Cl100k);
        assert!(parents.len() > 3, "{parents:?}");
        for child in &children {
            let parent = &parents[child.parent.unwrap() as usize];
            assert!(
                parent.char_start <= child.char_start && child.char_end <= parent.char_end,
                "{child:?} in {parent:?}"
            );
        }
    }

    #[test]
    fn a_whole_text_is_one_chunk_however_long() {
        let text = format!("\n{}", HANDBOOK.repeat(20));
        let one = whole(&text, &Cl100k).unwrap();
        assert_eq!(one.text, text.trim());
        assert_eq!(one.token_count as usize, Cl100k.count(text.trim()));
        assert_eq!((one.char_start, one.heading_path.as_slice()), (1, ["Handbook".to_owned()].as_slice()));
        assert_eq!(whole(" \n ", &Cl100k), None);
    }

    #[test]
    fn chunking_is_deterministic() {
        assert_eq!(
            chunk(HANDBOOK, ChunkSettings::default(), &Cl100k),
            chunk(HANDBOOK, ChunkSettings::default(), &Cl100k)
        );
    }
}
