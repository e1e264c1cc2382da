//! What lopdf's content parser would make of the streams pdf-extract draws, counted before it
//! makes it. pdf-extract parses a page's content, and each XObject it draws, whole into lopdf
//! operations first, a few hundred bytes for each: 5 MiB of `q Q` (a 5 KB file) took 1.45 GB.
//! And it joins a page's content streams, each as often as the page names it.

use std::collections::HashMap;

use pdf_extract::{Document, Object, ObjectId};

/// Operands and operators one page's content, or one XObject, may hold: up to about 300 MB
/// extracting (`q Q` repeated costs most, about 1.1 KB an operation). A page of dense text
/// holds some thousands; a detailed drawing can hold more and is refused.
pub const MAX_TOKENS: u64 = 1 << 18;

/// Bytes one page's content streams may decode to together (the stream budget).
pub const MAX_PAGE_BYTES: u64 = 64 << 20;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooMuchContent {
    #[error("a stream holds more than {MAX_TOKENS} operands and operators")]
    Stream,
    #[error("page {0}'s content holds more than {MAX_TOKENS} operands and operators")]
    PageTokens(u32),
    #[error("page {0}'s content streams decode to more than {mib} MiB together", mib = MAX_PAGE_BYTES >> 20)]
    PageBytes(u32),
}

/// Refuses a document with a stream (pdf-extract draws whatever a page names with `Do`) or a
/// page's content (its streams joined, each as often as named) past the bounds. Each stream
/// is decoded as pdf-extract decodes it; its size is within the stream budget already.
pub fn check(document: &Document) -> Result<(), TooMuchContent> {
    let mut counted: HashMap<ObjectId, (u64, u64)> = HashMap::new();
    for (&id, object) in &document.objects {
        let Object::Stream(stream) = object else { continue };
        let content = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
        let tokens = tokens(&content);
        if tokens > MAX_TOKENS {
            return Err(TooMuchContent::Stream);
        }
        counted.insert(id, (content.len() as u64, tokens));
    }
    for (page, id) in (1..).zip(document.page_iter()) {
        let (mut bytes, mut tokens) = (0u64, 0u64);
        for stream in document.get_page_contents(id) {
            let (stream_bytes, stream_tokens) = counted.get(&stream).copied().unwrap_or_default();
            bytes = bytes.saturating_add(stream_bytes + 1);
            tokens = tokens.saturating_add(stream_tokens);
            if bytes > MAX_PAGE_BYTES {
                return Err(TooMuchContent::PageBytes(page));
            }
            if tokens > MAX_TOKENS {
                return Err(TooMuchContent::PageTokens(page));
            }
        }
    }
    Ok(())
}

/// The tokens of `content` up to where lopdf's content parser stops (a byte no operand or
/// operator begins with, such as a picture's first byte past ASCII): at least as many as the
/// operands and operators it makes. An inline image's data, `ID` to `EI`, is passed over.
pub fn tokens(content: &[u8]) -> u64 {
    let mut count = 0;
    let mut at = 0;
    while let Some(&byte) = content.get(at) {
        at = match byte {
            byte if blank(byte) => at + 1,
            b']' => at + 1,
            b'%' => {
                at + content[at..].iter().position(|&byte| byte == b'\n' || byte == b'\r').unwrap_or(content.len() - at)
            }
            b'>' if content.get(at + 1) == Some(&b'>') => at + 2,
            // An array or a dictionary is an object of its own, beside its elements.
            b'[' => {
                count += 1;
                at + 1
            }
            b'<' if content.get(at + 1) == Some(&b'<') => {
                count += 1;
                at + 2
            }
            b'(' | b'<' | b'/' | b'0'..=b'9' | b'+' | b'-' | b'.' => {
                count += 1;
                match byte {
                    b'(' => past_string(content, at),
                    b'<' => {
                        at + 1
                            + content[at + 1..]
                                .iter()
                                .position(|&byte| byte == b'>')
                                .map_or(content.len(), |end| end + 1)
                    }
                    b'/' => at + 1 + content[at + 1..].iter().take_while(|&&byte| regular(byte)).count(),
                    // A number ends where its digits do: `1Q` is a number and an operator.
                    _ => {
                        at + 1
                            + content[at + 1..]
                                .iter()
                                .take_while(|&&byte| byte.is_ascii_digit() || byte == b'.')
                                .count()
                    }
                }
            }
            byte if byte.is_ascii_alphabetic() || b"*'\"".contains(&byte) => {
                count += 1;
                let word = content[at..]
                    .iter()
                    .take_while(|&&byte| byte.is_ascii_alphabetic() || b"*'\"".contains(&byte))
                    .count();
                if &content[at..at + word] == b"ID" {
                    past_image_data(content, at + word)
                } else {
                    at + word
                }
            }
            _ => break,
        };
    }
    count
}

/// Past the literal string opening at `at`: parentheses balance, a backslash escapes.
fn past_string(content: &[u8], mut at: usize) -> usize {
    let mut depth = 0u32;
    while let Some(&byte) = content.get(at) {
        match byte {
            b'\\' => at += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1;
                }
            }
            _ => {}
        }
        at += 1;
    }
    content.len()
}

/// Past an inline image's data from `at` (after `ID`): the first `EI` after a blank, as
/// lopdf looks for it.
fn past_image_data(content: &[u8], at: usize) -> usize {
    let end = content[at..].windows(3).position(|window| blank(window[0]) && &window[1..] == b"EI");
    end.map_or(content.len(), |end| at + end + 3)
}

/// A byte that goes on a name.
fn regular(byte: u8) -> bool {
    !blank(byte) && !b"()<>[]{}/%".contains(&byte)
}

/// lopdf's white space.
fn blank(byte: u8) -> bool {
    b" \t\n\r\0\x0C".contains(&byte)
}

#[cfg(test)]
mod tests;
