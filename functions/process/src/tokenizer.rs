//! cl100k_base, the tokenizer of the providers' models: chunks are sized with it unless the
//! embedder has a tokenizer of its own (a local model).

mod pretokenize;

use fnv::FnvHashMap;
use seams_embeddings::{Piece, TokenCounter};

/// cl100k_base from `bpe-openai`: its tables are compiled in and deserialised on first use,
/// so a process never pays for them before its first document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cl100k;

impl TokenCounter for Cl100k {
    fn count(&self, text: &str) -> usize {
        let bpe = &bpe_openai::cl100k_base().bpe;
        pretokenize::pieces(text).map(|piece| bpe.count(piece.as_bytes())).sum()
    }

    /// The pre-tokenizer's pieces (words with the space before them, runs of punctuation,
    /// of digits, of whitespace), each encoded once per distinct piece in the text: most
    /// words of a document repeat.
    fn pieces(&self, text: &str) -> Vec<Piece> {
        let bpe = &bpe_openai::cl100k_base().bpe;
        let mut known: FnvHashMap<&str, usize> = FnvHashMap::default();
        let mut end = 0;
        pretokenize::pieces(text)
            .map(|piece| {
                end += piece.len();
                let tokens = *known.entry(piece).or_insert_with(|| bpe.count(piece.as_bytes()));
                Piece { end, tokens }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_tiktoken_cl100k() {
        // Figures from OpenAI's tiktoken for cl100k_base.
        assert_eq!(Cl100k.count("hello world"), 2);
        assert_eq!(Cl100k.count("tiktoken is great!"), 6);
        assert_eq!(Cl100k.count(""), 0);
    }

    #[test]
    fn pieces_tile_the_text_and_add_up_to_its_count() {
        let text = "# Title\n\nDon't  split 12345 words, naïvely!\n\n\tEnd.";
        let pieces = Cl100k.pieces(text);
        assert_eq!(pieces.last().map(|p| p.end), Some(text.len()));
        assert!(pieces.windows(2).all(|w| w[0].end < w[1].end), "{pieces:?}");
        assert_eq!(pieces.iter().map(|p| p.tokens).sum::<usize>(), Cl100k.count(text));
    }
}
