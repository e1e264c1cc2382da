//! Parsing HTML within bounds: a page's tags' attributes counted before html5ever parses it,
//! and the parse timed as it goes. html5ever checks each attribute of a tag against the ones
//! before it for a duplicate, so one tag's attributes cost the square of their number: 20,000
//! took 6.9 s and 100,000 minutes, past a process function's timeout on every retry. Real
//! elements carry a handful.

use std::time::{Duration, Instant};

use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::TreeBuilderOpts;
use html5ever::ParseOpts;
use markup5ever_rcdom::{Handle, RcDom};

/// The longest html5ever may spend on one page. Its tree builder walks its stack of open
/// elements for some tags (a `<li>`, a `<p>`), so 20,000 nested `<div>`s and as many list
/// items (300 KB) took 51 s, and twice that over two minutes: a cost no scan before parsing
/// can bound without following the parser's every context. Real pages of 5 MiB parse in
/// about two seconds.
pub const PARSE_BUDGET: Duration = Duration::from_secs(20);

/// Bytes fed to the parser between looks at the clock.
const PIECE_BYTES: usize = 64 * 1024;

/// Parses `source` as html5ever does in one go (scripting on, as htmd parses), fed in pieces
/// so that a page the parser takes longer than `budget` over is refused.
pub fn parse(source: &str, budget: Duration) -> Result<Handle, String> {
    let options = ParseOpts {
        tree_builder: TreeBuilderOpts { scripting_enabled: true, ..Default::default() },
        ..Default::default()
    };
    let mut parser = html5ever::parse_document(RcDom::default(), options);
    let started = Instant::now();
    let mut rest = source;
    while !rest.is_empty() {
        let mut end = rest.len().min(PIECE_BYTES);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, after) = rest.split_at(end);
        parser.process(StrTendril::from_slice(piece));
        if started.elapsed() > budget {
            return Err(format!("the HTML took more than {} s to parse", budget.as_secs()));
        }
        rest = after;
    }
    Ok(parser.finish().document)
}

/// Attributes one tag may carry; a page with a tag carrying more is refused. Within it a
/// 5 MiB page of such tags costs html5ever about 10^9 comparisons, a second or two.
pub const MAX_ATTRIBUTES: usize = 256;

/// Refuses a page with a tag past [`MAX_ATTRIBUTES`].
pub fn check(source: &str) -> Result<(), String> {
    if most_attributes(source) > MAX_ATTRIBUTES {
        return Err(format!("an element has more than {MAX_ATTRIBUTES} attributes"));
    }
    Ok(())
}

/// The HTML tokenizer's states within a tag (WHATWG HTML, 13.2.5), the only ones that count
/// attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InTag {
    TagName,
    BeforeAttributeName,
    AttributeName,
    AfterAttributeName,
    BeforeAttributeValue,
    DoubleQuoted,
    SingleQuoted,
    Unquoted,
    AfterQuotedValue,
    SelfClosing,
}

const STATES: usize = 10;

/// At least the most attributes html5ever's tokenizer starts on one tag. Whether a `<` opens
/// a tag depends on what came before (a comment, a `<script>`, a quoted value), which the
/// tree builder decides; so every `<` and letter is taken as a tag that may open there, beside
/// the tags already being read, and each state keeps the largest count that reaches it. The
/// tokenizer's own path is always among those followed, and the scan stays linear.
fn most_attributes(source: &str) -> usize {
    let bytes = source.as_bytes();
    let mut live: [Option<usize>; STATES] = [None; STATES];
    let mut most = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let mut next: [Option<usize>; STATES] = [None; STATES];
        for (state, count) in ALL.iter().zip(live) {
            let Some(count) = count else { continue };
            if let Some((state, count)) = step(*state, count, byte) {
                most = most.max(count);
                let kept = &mut next[state as usize];
                *kept = (*kept).max(Some(count));
            }
        }
        // `<` then a letter opens a start tag, `</` then a letter an end tag (whose attributes
        // html5ever reads too).
        let letter_after = |skip: usize| bytes.get(at + skip).is_some_and(u8::is_ascii_alphabetic);
        let opens =
            (byte == b'<' && letter_after(1)) || (byte == b'/' && at > 0 && bytes[at - 1] == b'<' && letter_after(1));
        if opens {
            let kept = &mut next[InTag::TagName as usize];
            *kept = (*kept).max(Some(0));
        }
        live = next;
    }
    most
}

const ALL: [InTag; STATES] = [
    InTag::TagName,
    InTag::BeforeAttributeName,
    InTag::AttributeName,
    InTag::AfterAttributeName,
    InTag::BeforeAttributeValue,
    InTag::DoubleQuoted,
    InTag::SingleQuoted,
    InTag::Unquoted,
    InTag::AfterQuotedValue,
    InTag::SelfClosing,
];

/// One byte read in `state` with `count` attributes started: the next state and count, or
/// `None` where the tag ends. The standard's "reconsume" is the loop.
fn step(mut state: InTag, mut count: usize, byte: u8) -> Option<(InTag, usize)> {
    use InTag as S;
    // Carriage returns become line feeds before tokenizing.
    let blank = matches!(byte, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ');
    loop {
        let next = match state {
            S::TagName => match byte {
                _ if blank => S::BeforeAttributeName,
                b'/' => S::SelfClosing,
                b'>' => return None,
                _ => S::TagName,
            },
            S::BeforeAttributeName => match byte {
                _ if blank => S::BeforeAttributeName,
                b'/' | b'>' => {
                    state = S::AfterAttributeName;
                    continue;
                }
                // Any other byte, `=` too, starts an attribute's name.
                _ => {
                    count += 1;
                    S::AttributeName
                }
            },
            S::AttributeName => match byte {
                _ if blank || byte == b'/' || byte == b'>' => {
                    state = S::AfterAttributeName;
                    continue;
                }
                b'=' => S::BeforeAttributeValue,
                _ => S::AttributeName,
            },
            S::AfterAttributeName => match byte {
                _ if blank => S::AfterAttributeName,
                b'/' => S::SelfClosing,
                b'=' => S::BeforeAttributeValue,
                b'>' => return None,
                _ => {
                    count += 1;
                    S::AttributeName
                }
            },
            S::BeforeAttributeValue => match byte {
                _ if blank => S::BeforeAttributeValue,
                b'"' => S::DoubleQuoted,
                b'\'' => S::SingleQuoted,
                b'>' => return None,
                _ => S::Unquoted,
            },
            S::DoubleQuoted => {
                if byte == b'"' {
                    S::AfterQuotedValue
                } else {
                    S::DoubleQuoted
                }
            }
            S::SingleQuoted => {
                if byte == b'\'' {
                    S::AfterQuotedValue
                } else {
                    S::SingleQuoted
                }
            }
            S::Unquoted => match byte {
                _ if blank => S::BeforeAttributeName,
                b'>' => return None,
                _ => S::Unquoted,
            },
            S::AfterQuotedValue => match byte {
                _ if blank => S::BeforeAttributeName,
                b'/' => S::SelfClosing,
                b'>' => return None,
                _ => {
                    state = S::BeforeAttributeName;
                    continue;
                }
            },
            S::SelfClosing => match byte {
                b'>' => return None,
                _ => {
                    state = S::BeforeAttributeName;
                    continue;
                }
            },
        };
        return Some((next, count));
    }
}

#[cfg(test)]
mod tests;
