//! What lopdf's content parser would make of the streams pdf-extract draws, counted before it
//! makes it. pdf-extract parses a page's content, and each XObject it draws, whole into lopdf
//! operations first, a few hundred bytes for each: 5 MiB of `q Q` (a 5 KB file) took 1.45 GB.
//! And it joins a page's content streams, each as often as the page names it.

use std::collections::HashMap;

use pdf_extract::{Document, Object, ObjectId, Stream};

use super::pdf_names::{blank, ends_name};

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
    let mut sizes: HashMap<ObjectId, u64> = HashMap::new();
    for (&id, object) in &document.objects {
        let Object::Stream(stream) = object else { continue };
        let content = decoded(stream);
        if tokens(&content) > MAX_TOKENS {
            return Err(TooMuchContent::Stream);
        }
        sizes.insert(id, content.len() as u64);
    }
    for (page, id) in (1..).zip(document.page_iter()) {
        let streams = document.get_page_contents(id);
        let bytes =
            streams.iter().map(|stream| sizes.get(stream).map_or(0, |size| size + 1)).fold(0u64, u64::saturating_add);
        if bytes > MAX_PAGE_BYTES {
            return Err(TooMuchContent::PageBytes(page));
        }
        // Joined as pdf-extract reads them: what one stream leaves open goes on in the next.
        let mut joined = Vec::new();
        for stream in streams.iter().filter_map(|stream| document.get_object(*stream).and_then(Object::as_stream).ok())
        {
            joined.extend_from_slice(&decoded(stream));
            joined.push(b'\n');
        }
        if tokens(&joined) > MAX_TOKENS {
            return Err(TooMuchContent::PageTokens(page));
        }
    }
    Ok(())
}

/// A stream's content as pdf-extract reads it (`get_contents`, `get_page_content`).
fn decoded(stream: &Stream) -> Vec<u8> {
    stream.decompressed_content().unwrap_or_else(|_| stream.content.clone())
}

/// The operands and operators lopdf's content parser could make of `content`, at least.
/// Until an inline image (`BI`) the tokens are counted up to where the parser stops (a byte
/// no operand or operator begins with, such as a picture's first byte past ASCII). Where it
/// goes on after an image depends on the image's dictionary, so from there every place a
/// token could begin is counted, to the end.
pub fn tokens(content: &[u8]) -> u64 {
    let (count, image) = lexed(content);
    count + image.map_or(0, |at| starts(&content[at..]))
}

/// The tokens of `content` up to where lopdf's parser stops or an inline image begins (and
/// where that is).
fn lexed(content: &[u8]) -> (u64, Option<usize>) {
    let mut count = 0;
    let mut at = 0;
    while let Some(&byte) = content.get(at) {
        if blank(byte) {
            // A picture of zeros is blanks to lopdf: pass them in one step.
            at += content[at..].iter().take_while(|&&byte| blank(byte)).count();
            continue;
        }
        let token = match byte {
            b']' => false,
            b'>' if content.get(at + 1) == Some(&b'>') => false,
            b'%' => false,
            // An array or a dictionary is an object of its own, beside its elements.
            b'[' | b'(' | b'<' | b'/' | b'0'..=b'9' | b'+' | b'-' | b'.' => true,
            byte if operator(byte) => true,
            _ => return (count, None),
        };
        let end = past_token(content, at);
        if token {
            count += 1;
        }
        if &content[at..end] == b"BI" {
            return (count, Some(end));
        }
        at = end;
    }
    (count, None)
}

/// Where the token (or blank, or comment) at `at` ends.
fn past_token(content: &[u8], at: usize) -> usize {
    let rest = &content[at + 1..];
    let run = |goes_on: fn(u8) -> bool| at + 1 + rest.iter().take_while(|&&byte| goes_on(byte)).count();
    match content[at] {
        b'%' => {
            at + rest.iter().position(|&byte| byte == b'\n' || byte == b'\r').map_or(content.len() - at, |end| end + 1)
        }
        b'<' | b'>' if rest.first() == Some(&content[at]) => at + 2,
        b'<' => rest.iter().position(|&byte| byte == b'>').map_or(content.len(), |end| at + 1 + end + 1),
        b'(' => past_string(content, at),
        b'/' => run(|byte| !ends_name(byte)),
        b'0'..=b'9' | b'+' | b'-' | b'.' => past_number(content, at),
        byte if operator(byte) => run(operator),
        _ => at + 1,
    }
}

/// Where the number at `at` ends, as lopdf reads it: a sign, digits, one point, digits.
/// `1.2.3` is two numbers, `1Q` a number and an operator.
fn past_number(content: &[u8], at: usize) -> usize {
    let mut end = at + usize::from(matches!(content[at], b'+' | b'-'));
    let digits = |from: usize| content[from..].iter().take_while(|byte| byte.is_ascii_digit()).count();
    end += digits(end);
    if content.get(end) == Some(&b'.') {
        end += 1 + digits(end + 1);
    }
    end.max(at + 1)
}

/// Every place in `content` an operand or operator could begin: each `.`, sign and opening
/// delimiter, and each change between digits, an operator's letters and anything else
/// (`1.2.3` is two numbers, `1Q` a number and an operator).
fn starts(content: &[u8]) -> u64 {
    let class = |byte: u8| match byte {
        b'0'..=b'9' => 1,
        byte if operator(byte) => 2,
        b'.' | b'+' | b'-' | b'/' | b'(' | b'<' | b'[' => 3,
        _ => 0,
    };
    let mut count = 0;
    let mut previous = 0;
    for &byte in content {
        let this = class(byte);
        if this != 0 && (this != previous || this == 3) {
            count += 1;
        }
        previous = this;
    }
    count
}

/// A byte of an operator (or of `true`, `false`, `null`).
fn operator(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || b"*'\"".contains(&byte)
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

#[cfg(test)]
mod tests;
