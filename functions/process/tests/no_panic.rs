//! Random bytes through extraction, cleaning and chunking: errors, never panics.

use process::chunk::{chunk, ChunkSettings};
use process::clean::{clean, strip_page_furniture};
use process::extract::extract;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_input_is_extracted_or_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        content_type in prop::sample::select(vec!["text/plain", "text/markdown", "text/html", "application/json", "application/pdf"]),
    ) {
        let mut input = bytes.clone();
        if content_type == "application/pdf" {
            input = [b"%PDF-1.4\n".as_slice(), &bytes].concat();
        }
        if let Ok(extracted) = extract(content_type, &input) {
            let pages = strip_page_furniture(&extracted.pages);
            let _ = pages.iter().map(|p| clean(p)).collect::<Vec<_>>();
        }
    }

    #[test]
    fn any_text_chunks_within_its_limit(text in "\\PC{0,600}", max_tokens in 1usize..40, overlap in 0usize..60) {
        let settings = ChunkSettings::new(max_tokens, overlap);
        for piece in chunk(&clean(&text), settings, &process::Tokenizer) {
            // The limit is at least MIN_CHUNK_TOKENS, which holds any one character.
            prop_assert!(piece.token_count as usize <= settings.max_tokens, "{piece:?}");
        }
    }
}
