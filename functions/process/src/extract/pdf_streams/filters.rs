//! The stream filters lopdf decodes (`Stream::decompressed_content`), decoded as it does but
//! into a sink that stops at a bound. Its own decoding holds every step whole.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use flate2::read::{DeflateDecoder, ZlibDecoder};
use pdf_extract::filters::png as lopdf_png;
use pdf_extract::{Object, Stream};
use weezl::{decode::Decoder, BitOrder};

/// The filters a stream's dictionary names, as lopdf reads them, and the PNG predictor it
/// undoes after each Flate or LZW step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// In decoding order, up to the first lopdf does not decode.
    pub filters: Vec<Filter>,
    pub png: Option<Png>,
}

impl Chain {
    pub fn of(stream: &Stream) -> Chain {
        // lopdf reads one `DecodeParms` dictionary for every step.
        let parms = stream.dict.get(b"DecodeParms").and_then(Object::as_dict).ok();
        let parameter = |key: &[u8]| parms.and_then(|parms| parms.get(key).and_then(Object::as_i64).ok());
        let early_change = parameter(b"EarlyChange").is_none_or(|early| early != 0);
        let names = stream.filters().unwrap_or_default();
        let filters = names.iter().map_while(|name| Filter::named(name, early_change)).collect();
        let png = parameter(b"Predictor").filter(|predictor| (10..=15).contains(predictor)).map(|_| {
            let at_least = |key: &[u8], least: i64| parameter(key).unwrap_or(least).max(least) as u64;
            let bytes_per_pixel = at_least(b"Colors", 1).saturating_mul(at_least(b"BitsPerComponent", 8)) / 8;
            Png { bytes_per_pixel, columns: at_least(b"Columns", 1) }
        });
        Chain { filters, png }
    }

    /// The bytes `data` decodes to, each step's kept for the next, the last's only counted.
    /// The predictor is undone between steps; after the last it only takes bytes away.
    pub fn decoded(&self, data: &[u8], limit: u64) -> Result<u64, Full> {
        let Some((last, steps)) = self.filters.split_last() else { return Ok(0) };
        if self.png.is_some_and(|png| png.row() > limit) {
            return Err(Full(limit));
        }
        let mut data = Cow::Borrowed(data);
        for filter in steps {
            let mut sink = Sink::keeping(limit);
            filter.decode(&data, &mut sink)?;
            let made = sink.kept.unwrap_or_default();
            data = match self.png {
                Some(png) if *filter != Filter::Ascii85 => png.undo(&made),
                _ => made,
            }
            .into();
        }
        let mut sink = Sink::counting(limit);
        last.decode(&data, &mut sink)?;
        Ok(sink.bytes)
    }
}

/// lopdf's PNG predictor (`Predictor` 10 to 15), which it undoes row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Png {
    bytes_per_pixel: u64,
    columns: u64,
}

impl Png {
    /// The bytes of one row, which lopdf allocates twice before it reads any.
    pub fn row(&self) -> u64 {
        self.bytes_per_pixel.saturating_mul(self.columns)
    }

    /// What lopdf makes of `data`, nothing where it fails; `row` is within the budget here.
    fn undo(&self, data: &[u8]) -> Vec<u8> {
        let (bytes_per_pixel, columns) = (self.bytes_per_pixel as usize, self.columns as usize);
        lopdf_png::decode_frame(data, bytes_per_pixel, columns).unwrap_or_default()
    }
}

/// A filter lopdf decodes. It decodes no other: a stream naming another stops there, with an
/// error, so what comes after is never made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Flate,
    Lzw { early_change: bool },
    Ascii85,
}

impl Filter {
    /// The filter `name` names, with `early_change` from the stream's `DecodeParms` (lopdf
    /// reads one dictionary for every step).
    pub fn named(name: &[u8], early_change: bool) -> Option<Filter> {
        match name {
            b"FlateDecode" => Some(Filter::Flate),
            b"LZWDecode" => Some(Filter::Lzw { early_change }),
            b"ASCII85Decode" => Some(Filter::Ascii85),
            _ => None,
        }
    }

    /// Decodes `data` into `sink`, up to where the data breaks, as lopdf does (it keeps what
    /// came before a break). Err only when the sink is full.
    pub fn decode(self, data: &[u8], sink: &mut Sink) -> Result<(), Full> {
        match self {
            Filter::Flate => {
                // lopdf reads a stream that fails as zlib before making anything as raw deflate
                // after the two header bytes (encrypted PDFs with a broken checksum).
                copy(ZlibDecoder::new(data), sink)?;
                if sink.bytes == 0 && data.len() > 2 {
                    copy(DeflateDecoder::new(&data[2..]), sink)?;
                }
                Ok(())
            }
            Filter::Lzw { early_change } => {
                let mut decoder = if early_change {
                    Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
                } else {
                    Decoder::new(BitOrder::Msb, 8)
                };
                let _ = decoder.into_stream(&mut *sink).decode_all(data).status;
                sink.full()
            }
            Filter::Ascii85 => ascii85(data, sink),
        }
    }
}

/// Where a filter writes: it counts, keeps the bytes when a later step reads them, and is full
/// past `limit`.
#[derive(Debug)]
pub struct Sink {
    pub bytes: u64,
    pub kept: Option<Vec<u8>>,
    limit: u64,
    full: bool,
}

/// A sink past its limit (the limit).
#[derive(Debug, PartialEq, Eq)]
pub struct Full(pub u64);

impl Sink {
    pub fn counting(limit: u64) -> Sink {
        Sink { bytes: 0, kept: None, limit, full: false }
    }

    pub fn keeping(limit: u64) -> Sink {
        Sink { kept: Some(Vec::new()), ..Sink::counting(limit) }
    }

    fn full(&self) -> Result<(), Full> {
        if self.full {
            return Err(Full(self.limit));
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.bytes += bytes.len() as u64;
        if self.bytes > self.limit {
            self.full = true;
            return Err(io::Error::other("past the limit"));
        }
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn copy(mut decoder: impl Read, sink: &mut Sink) -> Result<(), Full> {
    let mut buffer = [0u8; 64 * 1024];
    while let Ok(read @ 1..) = decoder.read(&mut buffer) {
        if sink.write_all(&buffer[..read]).is_err() {
            return sink.full();
        }
    }
    Ok(())
}

/// lopdf's ASCII85: whitespace skipped, `z` four zeros, a character outside `!`..`u` ends it,
/// a last short group padded. lopdf fails whole on `z` inside a group or a group past 32 bits;
/// here what came before is counted all the same, which only counts more.
fn ascii85(data: &[u8], sink: &mut Sink) -> Result<(), Full> {
    let data = data.strip_suffix(b"~>").unwrap_or(data);
    let mut group = [0u8; 5];
    let mut count = 0;
    let mut write = |bytes: &[u8]| sink.write_all(bytes).or_else(|_| sink.full());
    for &byte in data {
        match byte {
            b'z' if count == 0 => write(&[0; 4])?,
            byte if byte.is_ascii_whitespace() => {}
            b'!'..=b'u' => {
                group[count] = byte - b'!';
                count += 1;
                if count == 5 {
                    let Some(word) = word(&group) else { return Ok(()) };
                    write(&word.to_be_bytes())?;
                    count = 0;
                }
            }
            _ => break,
        }
    }
    if count > 0 {
        group[count..].fill(84);
        if let Some(word) = word(&group) {
            write(&word.to_be_bytes()[..count - 1])?;
        }
    }
    Ok(())
}

/// A group's 32 bits; none past them, where lopdf fails (its addition wraps, as here).
fn word(group: &[u8; 5]) -> Option<u32> {
    group.iter().try_fold(0u32, |word, &digit| Some(word.checked_mul(85)?.wrapping_add(u32::from(digit))))
}
