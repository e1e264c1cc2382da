//! Document text: extraction from every format process reads, cleaning, and chunking.

use std::sync::Once;

use process::chunk::{chunk_hierarchy, ChunkSettings};
use process::clean::{clean, clean_pages, page_at, strip_page_furniture};
use process::extract::extract as extract_text;
use process::Tokenizer;

/// The formats process extracts; the input's first byte picks one.
const CONTENT_TYPES: [&str; 5] = ["text/html", "application/pdf", "application/json", "text/markdown", "text/plain"];

/// Target `extract`: a document's bytes as one of the formats, extracted and cleaned as
/// process does. Every page break must land inside the cleaned text.
pub fn extract(data: &[u8]) {
    allow_caught_panics();
    let Some((&selector, bytes)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let Ok(extracted) = extract_text(content_type, bytes) else { return };
    let (text, page_starts) = clean_pages(&strip_page_furniture(&extracted.pages));
    let length = text.chars().count() as u64;
    assert!(page_starts.windows(2).all(|pair| pair[0] <= pair[1]), "pages out of order: {page_starts:?}");
    assert!(page_starts.iter().all(|start| *start <= length), "a page starts past the text's {length} characters");
    if let Some(last) = page_starts.last() {
        assert!(page_at(&page_starts, *last).is_some());
    }
}

/// PDF parsers can panic on hostile input and process catches that (decision 0002), so
/// only a panic that escapes fails this target: libFuzzer's hook, which aborts on any
/// panic, caught or not, gives way to a silent one. An escaping panic still aborts.
fn allow_caught_panics() {
    static SILENT_HOOK: Once = Once::new();
    SILENT_HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// Target `chunk`: the first two bytes are the chunk size and overlap, the rest is the text.
/// Every chunk is within the size and the text, in order, and every child in its parent.
pub fn chunk(data: &[u8]) {
    let [size, overlap, rest @ ..] = data else { return };
    let settings = ChunkSettings::new(usize::from(*size) + 1, usize::from(*overlap) % 60);
    let parent_tokens = (usize::from(*size) + 1) * 4;
    let text = clean(&String::from_utf8_lossy(rest));
    let length = text.chars().count() as u64;
    let (parents, children) = chunk_hierarchy(&text, parent_tokens, settings, &Tokenizer);
    for (chunks, limit) in [(&parents, parent_tokens), (&children, settings.max_tokens)] {
        for chunk in chunks.iter() {
            assert!(chunk.char_start <= chunk.char_end && chunk.char_end <= length, "chunk {chunk:?} outside the text");
            assert!(chunk.token_count as usize <= limit, "{} tokens over the limit {limit}", chunk.token_count);
            assert!(!chunk.text.trim().is_empty(), "an empty chunk at {}", chunk.char_start);
        }
        assert!(chunks.windows(2).all(|pair| pair[0].char_start < pair[1].char_start), "chunks out of order");
    }
    for child in &children {
        let parent = child.parent.and_then(|ordinal| parents.get(ordinal as usize));
        let parent = parent.unwrap_or_else(|| panic!("chunk {} has no parent", child.ordinal));
        assert!(
            parent.char_start <= child.char_start && child.char_end <= parent.char_end,
            "child {}..{} outside its parent {}..{}",
            child.char_start,
            child.char_end,
            parent.char_start,
            parent.char_end
        );
    }
}
