//! How much a PDF's compressed streams inflate to, checked before extraction holds them. A
//! Flate stream can inflate a thousandfold: a 1 MB PDF of one content stream of blanks took
//! 2.3 GB to extract, past what a process function has (1,024 MB), so the function died
//! on every retry, and `seams up` with it. lopdf inflates a stream whole, with no bound, as
//! it loads (object streams) and as pdf-extract reads a page and every XObject it draws.

use std::io::Read;

use flate2::read::ZlibDecoder;
use pdf_extract::{Document, Object};

/// How many bytes a PDF's streams may inflate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// One stream's, at most.
    pub stream: u64,
    /// Every stream's together, at most.
    pub total: u64,
}

impl Budget {
    /// A stream about a hundred times a page of dense text; all of them what extraction can
    /// hold beside the text it makes within a process function's 1,024 MB.
    pub const DEFAULT: Budget = Budget { stream: 64 << 20, total: 512 << 20 };
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Inflated {
    #[error("a stream inflates to more than {} MiB", .0 >> 20)]
    Stream(u64),
    #[error("its streams inflate to more than {} MiB together", .0 >> 20)]
    Total(u64),
}

/// Checks the streams of the file as written, before lopdf loads it: the data after each
/// stream dictionary that inflates as zlib. Images count too: pdf-extract reads every XObject a
/// page draws (`Do`) as content, inflating it.
pub fn check_file(bytes: &[u8], budget: Budget) -> Result<(), Inflated> {
    let mut total = 0;
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], b"stream").map(|i| from + i) {
        from = at + b"stream".len();
        if !follows_a_dictionary(bytes, at) {
            continue;
        }
        let data = match &bytes[from..] {
            [b'\r', b'\n', data @ ..] | [b'\n', data @ ..] => data,
            _ => continue,
        };
        total = add(total, inflated(data, budget)?, budget)?;
    }
    Ok(())
}

/// Checks the streams of a loaded document, whose decryption the file's bytes hid from
/// [`check_file`]: those whose first filter is Flate.
pub fn check_document(document: &Document, budget: Budget) -> Result<(), Inflated> {
    let mut total = 0;
    for object in document.objects.values() {
        let Object::Stream(stream) = object else { continue };
        let flate_first = stream.filters().ok().and_then(|filters| filters.first().copied()) == Some(b"FlateDecode");
        if flate_first {
            total = add(total, inflated(&stream.content, budget)?, budget)?;
        }
    }
    Ok(())
}

fn add(total: u64, bytes: u64, budget: Budget) -> Result<u64, Inflated> {
    let total = total + bytes;
    if total > budget.total {
        return Err(Inflated::Total(budget.total));
    }
    Ok(total)
}

/// The bytes `data` inflates to as zlib, read without keeping them: 0 when it is not zlib,
/// up to where it breaks when it is cut short (as lopdf reads it).
fn inflated(data: &[u8], budget: Budget) -> Result<u64, Inflated> {
    let mut decoder = ZlibDecoder::new(data);
    let mut buffer = [0u8; 64 * 1024];
    let mut bytes = 0u64;
    while let Ok(read @ 1..) = decoder.read(&mut buffer) {
        bytes += read as u64;
        if bytes > budget.stream {
            return Err(Inflated::Stream(budget.stream));
        }
    }
    Ok(bytes)
}

/// Whether `stream` at `at` ends a stream dictionary (`<< … >>`, whitespace between):
/// `endstream` and the word inside data do not.
fn follows_a_dictionary(bytes: &[u8], at: usize) -> bool {
    bytes[..at].trim_ascii_end().ends_with(b">>")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests;
