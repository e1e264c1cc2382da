//! cl100k_base's pre-tokenizer without a regex engine: the same pieces as `bpe-openai`'s
//! `split` (checked over every Unicode scalar value below), at a fraction of the cost. The
//! regex search was half of chunking's time.
//!
//! The pattern, whose alternatives are tried in this order at the start of each piece:
//! `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//! \s*[\r\n]+|\s+$`, then `\s+(?!\S)`, then `\s+`.

use unicode_general_category::{get_general_category, GeneralCategory as G};

/// The pieces of `text`, in order; together they are `text`.
pub fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let length = piece_length(rest)?;
        let (piece, after) = rest.split_at(length);
        rest = after;
        Some(piece)
    })
}

/// What the pattern distinguishes a character by; the classes do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    /// `\r` or `\n`.
    LineBreak,
    /// Any other white space.
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Letter,
            '0'..='9' => Class::Number,
            '\r' | '\n' => Class::LineBreak,
            ' ' | '\t' | '\x0b' | '\x0c' => Class::Space,
            _ => Class::Other,
        };
    }
    if c.is_whitespace() {
        return Class::Space;
    }
    match get_general_category(c) {
        G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter => {
            Class::Letter
        }
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => Class::Number,
        _ => Class::Other,
    }
}

/// The byte length of the piece that starts `rest`; `None` when `rest` is empty.
fn piece_length(rest: &str) -> Option<usize> {
    let mut chars = rest.chars();
    let first = chars.next()?;
    let second = chars.next();
    let first_class = class(first);
    let second_class = second.map(class);
    // The byte length of the run of `wanted` characters from `from`.
    let run = |from: usize, wanted: Class| -> usize {
        rest[from..].chars().take_while(|&c| class(c) == wanted).map(char::len_utf8).sum::<usize>()
    };

    if let Some(length) = contraction(rest) {
        return Some(length);
    }
    match (first_class, second_class) {
        (Class::Letter, _) => return Some(run(0, Class::Letter)),
        (Class::Space | Class::Other, Some(Class::Letter)) => {
            let skip = first.len_utf8();
            return Some(skip + run(skip, Class::Letter));
        }
        (Class::Number, _) => {
            return Some(rest.chars().take(3).take_while(|&c| class(c) == Class::Number).map(char::len_utf8).sum());
        }
        _ => {}
    }
    let punctuation_from = match (first, first_class, second_class) {
        (' ', _, Some(Class::Other)) => Some(1),
        (_, Class::Other, _) => Some(0),
        _ => None,
    };
    if let Some(from) = punctuation_from {
        let end = from + run(from, Class::Other);
        return Some(end + run(end, Class::LineBreak));
    }

    // White space: through its last line break; else all of it at the end of the text; else
    // all but its last character, which goes with the word after it; else its one character.
    let mut end = 0;
    let mut after_last_break = None;
    let mut last_length = 0;
    for c in rest.chars().take_while(|c| c.is_whitespace()) {
        last_length = c.len_utf8();
        end += last_length;
        if matches!(c, '\r' | '\n') {
            after_last_break = Some(end);
        }
    }
    Some(match after_last_break {
        Some(at) => at,
        None if end == rest.len() || end == last_length => end,
        None => end - last_length,
    })
}

/// `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll` or `'d` at the start, in any case (`ſ`, the long s,
/// folds to `s`), as its byte length.
fn contraction(rest: &str) -> Option<usize> {
    let after = rest.strip_prefix('\'')?;
    let mut chars = after.chars().map(|c| c.to_ascii_lowercase());
    let length = match (chars.next()?, chars.next()) {
        ('s' | 't' | 'm' | 'd', _) => 2,
        ('ſ', _) => 1 + 'ſ'.len_utf8(),
        ('r', Some('e')) | ('v', Some('e')) | ('l', Some('l')) => 3,
        _ => return None,
    };
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> Vec<&str> {
        bpe_openai::cl100k_base().split(text).collect()
    }

    fn assert_same(text: &str) {
        assert_eq!(pieces(text).collect::<Vec<_>>(), reference(text), "{text:?}");
    }

    #[test]
    fn pieces_of_ordinary_text_match_the_regex() {
        for text in [
            "",
            "Hello world",
            "Don't  split 12345 words, naïvely!\n\n\tEnd.",
            "# Title\r\n\r\n  - item (one) -- 'quoted' they'RE we'LL I'd",
            "   leading and trailing   ",
            "tabs\t\t\tand\u{a0}\u{a0}nbsp\u{2003}em\n \n  \n",
            "x = a+b*(c-1)/2; // comment\n    return;\n",
            "Число 42 — это ответ. 東京タワーは333メートル。😀😀 café cafe\u{301}",
            "'''s ''t '  's'",
            "\n",
            " ",
            "a\n\n",
            "1234567 ١٢٣٤ ²³",
        ] {
            assert_same(text);
        }
    }

    /// Every Unicode scalar value after a letter, a digit, a space, punctuation and an
    /// apostrophe, before a line break and inside runs: its pieces show how the pattern
    /// classes it. A thousand characters to a text, so the regex is built into few calls.
    #[test]
    fn every_character_is_classed_as_the_regex_classes_it() {
        let characters: Vec<char> = (0..=0x10FFFF).filter_map(char::from_u32).collect();
        for group in characters.chunks(1024) {
            let text: String = group.iter().map(|c| format!("a{c}1{c} {c}!{c}'{c}d{c}\n{c}{c}  {c}")).collect();
            let ours: Vec<&str> = pieces(&text).collect();
            let theirs = reference(&text);
            if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
                panic!(
                    "from U+{:04X}: ours {:?}, the regex's {:?}",
                    group[0] as u32,
                    &ours[at..at + 3],
                    &theirs[at..at + 3]
                );
            }
            assert_eq!(ours.len(), theirs.len(), "from U+{:04X}", group[0] as u32);
        }
    }

    #[test]
    fn random_text_from_every_class_matches_the_regex() {
        let alphabet = [
            "a", "Z", "é", "ж", "東", "1", "٣", "²", " ", "  ", "\t", "\n", "\r\n", "\u{a0}", "'", "s", "re", "ll",
            ".", ",", "(", "—", "😀", "\u{301}", "_", "'S",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            assert_same(&text);
        }
    }
}
