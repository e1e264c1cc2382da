//! The chunker's invariants over random Markdown: every chunk within the token limit and
//! counted exactly, offsets that point at it, nothing lost, words kept whole; walls (the
//! other strategies' cuts) never crossed; children inside their parents.

use process::chunk::{chunk, chunk_between, chunk_hierarchy, sentences, ChunkSettings};
use process::Tokenizer;
use proptest::prelude::*;
use seams_embeddings::TokenCounter;

const WORDS: &[&str] = &[
    "the",
    "policy",
    "covers",
    "travel",
    "expenses",
    "naïve",
    "café",
    "日本語",
    "🎉",
    "don't",
    "12345",
    "e.g.",
    "(see",
    "below)",
    "**bold**",
    "`code`",
    "https://example.com/a?b=c",
    "x",
    "'sup",
    "'s",
    "1234567",
    "...",
    "—",
    "«quoted»",
    "\t",
    "  ",
    "ﬁnal",
    "Σ",
    "\r\n",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn sentence() -> impl Strategy<Value = String> {
    (prop::collection::vec(word(), 1..12), prop::sample::select(vec![".", "!", "?", ":", ""]))
        .prop_map(|(words, end)| format!("{}{end}", words.join(" ")))
}

/// Headings, paragraphs, lists and code fences, with the odd stray blank or indent.
fn block() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..7, prop::collection::vec(word(), 1..4)).prop_map(|(level, words)| format!(
            "{} {}",
            "#".repeat(level),
            words.join(" ")
        )),
        prop::collection::vec(sentence(), 1..6).prop_map(|s| s.join(" ")),
        prop::collection::vec(sentence(), 1..4).prop_map(|s| s
            .iter()
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n")),
        prop::collection::vec(sentence(), 1..3).prop_map(|s| format!("```\n{}\n```", s.join("\n"))),
        prop::collection::vec(sentence(), 1..3).prop_map(|s| s.join("\n  ")),
    ]
}

fn markdown() -> impl Strategy<Value = String> {
    prop::collection::vec((block(), prop::sample::select(vec!["\n\n", "\n", "\n\n\n", " \n\n"])), 1..40)
        .prop_map(|blocks| blocks.into_iter().map(|(b, gap)| b + gap).collect())
}

/// Found by `children_of_random_markdown_sit_inside_their_parents`: a child that started in
/// the overlap could not reach the URL's end within 16 tokens, and was cut before its last
/// full stop instead of starting without the overlap.
#[test]
fn a_child_after_an_overlap_is_not_cut_inside_a_word() {
    let text = "# ...\n\nthe ... the the the 日本語 https://example.com/a?b=c.\n\n\r\n.\n\n";
    let (parents, children) = chunk_hierarchy(text, 32, ChunkSettings::new(16, 44), &Tokenizer);
    let chars: Vec<char> = text.chars().collect();
    for child in &children {
        let end = child.char_end as usize;
        assert!(end == chars.len() || chars[end].is_whitespace(), "ends inside a word: {child:?}");
    }
    assert_eq!(words(&children), words(&parents));
}

/// Every whitespace-separated word of `chunks`, once.
fn words(chunks: &[process::chunk::Chunk]) -> std::collections::BTreeSet<String> {
    chunks.iter().flat_map(|c| c.text.split_whitespace().map(str::to_owned)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn chunks_of_random_markdown_keep_the_invariants(text in markdown(), max_tokens in 16usize..120, overlap in 0usize..50) {
        let settings = ChunkSettings::new(max_tokens, overlap);
        let chunks = chunk(&text, settings, &Tokenizer);
        let chars: Vec<char> = text.chars().collect();
        let mut covered = vec![false; chars.len()];
        for (i, c) in chunks.iter().enumerate() {
            prop_assert_eq!(c.ordinal as usize, i);
            prop_assert_eq!(c.token_count as usize, Tokenizer.count(&c.text), "counted exactly");
            prop_assert!(c.token_count as usize <= max_tokens, "{:?} over {}", c, max_tokens);
            let (start, end) = (c.char_start as usize, c.char_end as usize);
            prop_assert_eq!(chars[start..end].iter().collect::<String>(), c.text.clone(), "offsets point at the chunk");
            prop_assert_eq!(c.text.trim(), c.text.as_str(), "trimmed");
            // Never inside a word: every word of the vocabulary fits in a chunk.
            prop_assert!(start == 0 || chars[start - 1].is_whitespace(), "starts at a word: {:?}", c.text);
            prop_assert!(end == chars.len() || chars[end].is_whitespace(), "ends at a word: {:?}", c.text);
            covered[start..end].iter_mut().for_each(|seen| *seen = true);
        }
        prop_assert!(chunks.windows(2).all(|w| w[0].char_start < w[1].char_start && w[0].char_end < w[1].char_end), "in order");
        if settings.overlap_tokens == 0 {
            prop_assert!(chunks.windows(2).all(|w| w[0].char_end <= w[1].char_start), "no overlap unless asked");
        }
        let lost: String = chars.iter().zip(&covered).filter(|(c, seen)| !c.is_whitespace() && !**seen).map(|(c, _)| *c).collect();
        prop_assert!(lost.is_empty(), "lost {:?}", lost);
    }

    #[test]
    fn walls_at_random_sentence_ends_are_never_crossed(text in markdown(), max_tokens in 16usize..120, picks in prop::collection::vec(any::<bool>(), 64)) {
        let walls: Vec<usize> = sentences(&text).iter().zip(picks.iter().cycle()).filter(|(_, pick)| **pick).map(|(s, _)| s.end).collect();
        let chunks = chunk_between(&text, ChunkSettings::new(max_tokens, 20), &Tokenizer, &walls);
        for wall in walls.iter().map(|w| text[..*w].chars().count() as u64) {
            prop_assert!(chunks.iter().all(|c| c.char_end <= wall || c.char_start >= wall), "a chunk crosses the wall at {}", wall);
        }
        prop_assert!(chunks.iter().all(|c| c.token_count as usize <= max_tokens && c.token_count as usize == Tokenizer.count(&c.text)));
    }

    #[test]
    fn children_of_random_markdown_sit_inside_their_parents(text in markdown(), child_tokens in 16usize..60, factor in 2usize..6, overlap in 0usize..50) {
        let parent_tokens = child_tokens * factor;
        let (parents, children) = chunk_hierarchy(&text, parent_tokens, ChunkSettings::new(child_tokens, overlap), &Tokenizer);
        prop_assert!(parents.iter().all(|p| p.token_count as usize <= parent_tokens));
        prop_assert!(parents.windows(2).all(|w| w[0].char_end <= w[1].char_start), "parents do not overlap");
        for child in &children {
            prop_assert!(child.token_count as usize <= child_tokens);
            let parent = child.parent.and_then(|p| parents.get(p as usize));
            prop_assert!(parent.is_some_and(|p| p.char_start <= child.char_start && child.char_end <= p.char_end), "{:?} outside {:?}", child, parent);
        }
        prop_assert_eq!(words(&children), words(&parents), "children hold every word of the parents");
    }
}

#[test]
fn a_heading_starts_a_chunk_when_the_section_before_fills_one() {
    let section = |title: &str| format!("## {title}\n\n{}\n\n", "Receipts are kept for every purchase. ".repeat(6));
    let text = [section("One"), section("Two"), section("Three")].concat();
    let per_section = Tokenizer.count(&section("One"));
    let chunks = chunk(&text, ChunkSettings::new(per_section + 10, 0), &Tokenizer);
    let starts: Vec<&str> = chunks.iter().map(|c| c.text.lines().next().unwrap_or_default()).collect();
    assert_eq!(starts, ["## One", "## Two", "## Three"]);
}
