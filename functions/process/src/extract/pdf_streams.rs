//! How much a PDF's compressed streams inflate to, checked before extraction holds them. A
//! Flate stream can inflate a thousandfold: a 1 MB PDF of one content stream of blanks took
//! 2.3 GB to extract, past what a process function has (1,024 MB), so the function died
//! on every retry, and `seams up` with it. lopdf decodes a stream whole, through every filter
//! it names, with no bound, as it loads (object streams) and as pdf-extract reads a page and
//! every XObject it draws.

mod filters;
mod rows;

use filters::{Chain, Filter, Full, Sink};
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
    #[error("a stream's predictor rows are longer than {} MiB", .0 >> 20)]
    Row(u64),
}

impl From<Full> for Inflated {
    fn from(Full(limit): Full) -> Self {
        Inflated::Stream(limit)
    }
}

/// How many filters deep [`check_file`] follows a stream whose dictionary it has not read.
/// Real files use one or two (ASCII85 before Flate).
pub const UNREAD_DEPTH: usize = 3;

/// The filters [`check_file`] tries on a stream's bytes as written: every one lopdf decodes.
const TRIED_FIRST: [Filter; 4] =
    [Filter::Flate, Filter::Lzw { early_change: true }, Filter::Lzw { early_change: false }, Filter::Ascii85];

/// Those it tries on bytes a filter made. Not LZW: it reads most bytes as codes (a dark
/// picture's pixels decode as LZW, and so does what that makes), so every picture would be
/// decoded many times over.
const TRIED_AFTER: [Filter; 2] = [Filter::Flate, Filter::Ascii85];

/// Whether [`check_file`] followed every chain like `chain`; a stream declaring another is
/// decoded as declared once the file is loaded ([`check_document`]). It undoes no predictor,
/// which changes what a later step reads.
fn followed_by_the_file_check(chain: &Chain) -> bool {
    let filters = &chain.filters;
    let tried = filters.iter().skip(1).all(|filter| TRIED_AFTER.contains(filter));
    filters.len() <= UNREAD_DEPTH && tried && (chain.png.is_none() || filters.len() <= 1)
}

/// What [`check_file`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileChecked {
    total: u64,
}

/// Checks the streams of the file as written, before lopdf loads it and decodes its object
/// and cross-reference streams. Their dictionaries are not read here, so the data after each
/// stream dictionary is decoded the ways lopdf could decode it ([`TRIED_FIRST`], then
/// [`TRIED_AFTER`] up to [`UNREAD_DEPTH`] filters deep), and the most any way makes is what
/// it counts. Images count too: pdf-extract reads every XObject a page draws (`Do`) as
/// content, decoding it. And no dictionary in the file may ask for predictor rows past the
/// budget: lopdf allocates a row before reading any data.
pub fn check_file(bytes: &[u8], budget: Budget) -> Result<FileChecked, Inflated> {
    if rows::longest(bytes) > budget.stream {
        return Err(Inflated::Row(budget.stream));
    }
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
        total = add(total, most(data, &TRIED_FIRST, UNREAD_DEPTH, budget)?, budget)?;
    }
    Ok(FileChecked { total })
}

/// Checks what [`check_file`] could not: after an encrypted file is decrypted, every stream
/// (its bytes in the file were ciphertext, `file` is `None`); otherwise the streams declaring
/// a chain of filters it did not follow. Each is decoded by the filters its dictionary names.
pub fn check_document(document: &Document, budget: Budget, file: Option<FileChecked>) -> Result<(), Inflated> {
    let mut total = file.map_or(0, |file| file.total);
    for object in document.objects.values() {
        let Object::Stream(stream) = object else { continue };
        let chain = Chain::of(stream);
        if chain.png.is_some_and(|png| png.row() > budget.stream) {
            return Err(Inflated::Row(budget.stream));
        }
        if file.is_none() || !followed_by_the_file_check(&chain) {
            total = add(total, chain.decoded(&stream.content, budget.stream)?, budget)?;
        }
    }
    Ok(())
}

/// The most `data` decodes to by any chain of up to `depth` filters, the first of `tried`.
fn most(data: &[u8], tried: &[Filter], depth: usize, budget: Budget) -> Result<u64, Inflated> {
    let mut most = 0;
    for filter in tried {
        let mut sink = if depth > 1 { Sink::keeping(budget.stream) } else { Sink::counting(budget.stream) };
        filter.decode(data, &mut sink)?;
        most = most.max(sink.bytes);
        if let Some(made) = sink.kept.filter(|made| !made.is_empty()) {
            most = most.max(self::most(&made, &TRIED_AFTER, depth - 1, budget)?);
        }
    }
    Ok(most)
}

fn add(total: u64, bytes: u64, budget: Budget) -> Result<u64, Inflated> {
    let total = total + bytes;
    if total > budget.total {
        return Err(Inflated::Total(budget.total));
    }
    Ok(total)
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
