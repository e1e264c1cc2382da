//! Token-sized, structure-aware chunks with overlap, each with its heading path and
//! character offsets into the cleaned text. Pure: no I/O.

use seams_embeddings::TokenCounter;
use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSettings {
    pub max_tokens: usize,
    /// Tokens each chunk shares with the one before it.
    pub overlap_tokens: usize,
}

impl ChunkSettings {
    /// `overlap_percent` of `max_tokens`, kept below `max_tokens`.
    pub fn new(max_tokens: usize, overlap_percent: usize) -> Self {
        let max_tokens = max_tokens.max(1);
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
}

/// Counts tokens with a borrowed tokenizer, so one tokenizer serves every call.
struct Tokens<'a>(&'a dyn TokenCounter);

impl ChunkSizer for Tokens<'_> {
    fn size(&self, chunk: &str) -> usize {
        self.0.count(chunk)
    }
}

/// cl100k_base, the tokenizer of the providers' models: chunks are sized with it unless the
/// embedder has a tokenizer of its own (a local model).
pub struct Cl100k(pub tiktoken_rs::CoreBPE);

impl TokenCounter for Cl100k {
    fn count(&self, text: &str) -> usize {
        self.0.encode_ordinary(text).len()
    }
}

/// Splits `text` (Markdown or plain) into chunks of at most `settings.max_tokens` tokens as
/// `tokenizer` counts them. Markdown-aware: it prefers to split at headings, then
/// paragraphs, sentences, words.
pub fn chunk(text: &str, settings: ChunkSettings, tokenizer: &dyn TokenCounter) -> Vec<Chunk> {
    let config = ChunkConfig::new(settings.max_tokens).with_sizer(Tokens(tokenizer)).with_trim(true);
    // `new` keeps overlap below the size, the only way `with_overlap` can fail.
    let config = match config.with_overlap(settings.overlap_tokens) {
        Ok(config) => config,
        Err(_) => ChunkConfig::new(settings.max_tokens).with_sizer(Tokens(tokenizer)),
    };
    let splitter = MarkdownSplitter::new(config);
    let headings = headings(text);
    let mut heading_path = HeadingPath::new(&headings);
    let mut chars_before = CharOffsets::new(text);
    splitter
        .chunk_indices(text)
        .enumerate()
        .map(|(ordinal, (byte_start, piece))| {
            let char_start = chars_before.at(byte_start);
            Chunk {
                ordinal: ordinal as u32,
                text: piece.to_owned(),
                char_start,
                char_end: char_start + piece.chars().count() as u64,
                token_count: u32::try_from(tokenizer.count(piece)).unwrap_or(u32::MAX),
                heading_path: heading_path.at(byte_start),
                page: None,
            }
        })
        .collect()
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

/// ATX headings (`## Title`) outside code fences: byte offset, level, text.
fn headings(text: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let mut in_fence = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        } else if !in_fence {
            let level = trimmed.chars().take_while(|c| *c == '#').count();
            let title = trimmed[level..].trim();
            if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') && !title.is_empty() {
                found.push((offset, level, title.trim_end_matches('#').trim().to_owned()));
            }
        }
        offset += line.len();
    }
    found
}

/// The headings in force at a byte offset: for each level, the last heading before it,
/// deeper ones dropped whenever a shallower heading starts a new section. Offsets are asked
/// for in increasing order, so the walk through the headings is done once, not per chunk.
struct HeadingPath<'a> {
    headings: &'a [(usize, usize, String)],
    next: usize,
    path: Vec<(usize, String)>,
}

impl<'a> HeadingPath<'a> {
    fn new(headings: &'a [(usize, usize, String)]) -> Self {
        Self { headings, next: 0, path: Vec::new() }
    }

    fn at(&mut self, byte: usize) -> Vec<String> {
        if self.next > 0 && self.headings[self.next - 1].0 > byte {
            // Asked about an earlier offset: walk again from the start.
            self.next = 0;
            self.path.clear();
        }
        while let Some((offset, level, title)) = self.headings.get(self.next) {
            if *offset > byte {
                break;
            }
            self.path.retain(|(l, _)| l < level);
            self.path.push((*level, title.clone()));
            self.next += 1;
        }
        self.path.iter().map(|(_, title)| title.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> Cl100k {
        Cl100k(tiktoken_rs::cl100k_base().unwrap())
    }

    const HANDBOOK: &str = "# Handbook\n\nWelcome to the team.\n\n## Expenses\n\nKeep receipts for everything you buy on the company card. Submit them within thirty days.\n\n### Travel\n\nBook trains over flights for trips under four hours. Hotels must be under the city cap.\n\n## Leave\n\nYou have twenty-five days of leave per year, plus public holidays.\n";

    #[test]
    fn chunks_cover_the_text_in_order_within_the_token_limit() {
        let tokenizer = tokenizer();
        let settings = ChunkSettings::new(20, 10);
        let chunks = chunk(HANDBOOK, settings, &tokenizer);
        assert!(chunks.len() > 3, "{chunks:?}");
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.ordinal as usize, i);
            assert!(c.token_count as usize <= settings.max_tokens, "{c:?}");
            assert_eq!(c.token_count as usize, tokenizer.count(&c.text));
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
        let chunks = chunk(HANDBOOK, ChunkSettings::new(30, 0), &tokenizer());
        let travel = chunks.iter().find(|c| c.text.contains("Book trains")).unwrap();
        assert_eq!(travel.heading_path, ["Handbook", "Expenses", "Travel"]);
        let leave = chunks.iter().find(|c| c.text.contains("twenty-five")).unwrap();
        assert_eq!(leave.heading_path, ["Handbook", "Leave"]);
    }

    #[test]
    fn neighbouring_chunks_overlap_when_asked() {
        let text = "word ".repeat(400);
        let chunks = chunk(&text, ChunkSettings::new(50, 20), &tokenizer());
        assert!(
            chunks.windows(2).all(|w| w[1].char_start < w[0].char_end),
            "each chunk starts inside the previous one"
        );
        let without = chunk(&text, ChunkSettings::new(50, 0), &tokenizer());
        assert!(without.windows(2).all(|w| w[1].char_start >= w[0].char_end));
    }

    #[test]
    fn words_are_never_cut() {
        let text = "internationalisation ".repeat(100);
        for c in chunk(&text, ChunkSettings::new(15, 10), &tokenizer()) {
            assert!(c.text.split_whitespace().all(|w| w == "internationalisation"), "{:?}", c.text);
        }
    }

    #[test]
    fn chunking_is_deterministic() {
        let tokenizer = tokenizer();
        assert_eq!(
            chunk(HANDBOOK, ChunkSettings::default(), &tokenizer),
            chunk(HANDBOOK, ChunkSettings::default(), &tokenizer)
        );
    }
}
