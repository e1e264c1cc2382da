//! The character maps pdf-extract would build from a PDF's fonts, counted before it builds
//! them. adobe-cmap-parser expands each `bfrange` of a font's `ToUnicode` map into one entry
//! per code, with no bound: a 600-byte PDF whose one range spans 16 million codes took 33 s
//! and 3.6 GB, and a range can span four billion.

use std::collections::BTreeSet;

use adobe_cmap_parser::Value;
use pdf_extract::{Document, Object, ObjectId};

/// Codes the fonts' `ToUnicode` maps may map, all of them together: 32 fonts each mapping
/// every code of a two-byte code space, about 160 MB of entries in pdf-extract's maps.
pub const MAX_MAPPED_CODES: u64 = 1 << 21;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("its fonts' character maps map more than {MAX_MAPPED_CODES} codes")]
pub struct TooManyCodes;

/// Refuses a document whose fonts' `ToUnicode` maps, each counted once, map more than
/// [`MAX_MAPPED_CODES`]. Their streams are within the stream budget already.
pub fn check(document: &Document) -> Result<(), TooManyCodes> {
    let to_unicode = |object: &Object| object.as_dict().ok()?.get(b"ToUnicode").ok()?.as_reference().ok();
    let maps: BTreeSet<ObjectId> = document.objects.values().filter_map(to_unicode).collect();
    let mut codes = 0u64;
    for id in maps {
        let Ok(Object::Stream(stream)) = document.get_object(id) else { continue };
        // As pdf-extract reads it (`get_contents`).
        let cmap = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
        codes = codes.saturating_add(mapped(&cmap));
        if codes > MAX_MAPPED_CODES {
            return Err(TooManyCodes);
        }
    }
    Ok(())
}

/// The entries adobe-cmap-parser's `get_unicode_map` inserts for `cmap`: its own tokens,
/// walked as it walks them, up to where it fails.
fn mapped(cmap: &[u8]) -> u64 {
    let Ok(tokens) = adobe_cmap_parser::parse(cmap) else { return 0 };
    let mut inserted = 0u64;
    let mut at = 0;
    while let Some(token) = tokens.get(at) {
        let Value::Operator(operator) = token else {
            at += 1;
            continue;
        };
        let count = match at.checked_sub(1).and_then(|before| tokens.get(before)) {
            Some(Value::Integer(count)) => *count,
            _ if operator == "beginbfchar" || operator == "beginbfrange" => return inserted,
            _ => 0,
        };
        at += 1;
        match operator.as_str() {
            "beginbfchar" => {
                for _ in 0..count {
                    if two_strings(&tokens, at).is_none() {
                        return inserted;
                    }
                    inserted += 1;
                    at += 2;
                }
                at += 1;
            }
            "beginbfrange" => {
                for _ in 0..count {
                    let Some((low, high)) = two_strings(&tokens, at) else { return inserted };
                    let (low, high) = (code(low), code(high));
                    let range = if high >= low { u64::from(high - low) + 1 } else { 0 };
                    match tokens.get(at + 2) {
                        Some(Value::LiteralString(start)) if matches!(start.len(), 2 | 4) => inserted += range,
                        Some(Value::Array(codes)) if codes.len() as u64 == range => inserted += range,
                        _ => return inserted,
                    }
                    at += 3;
                }
                at += 1;
            }
            _ => {}
        }
    }
    inserted
}

/// The two hexadecimal strings at `at` (a code and what it maps to, or a range's ends).
fn two_strings(tokens: &[Value], at: usize) -> Option<(&[u8], &[u8])> {
    match (tokens.get(at)?, tokens.get(at + 1)?) {
        (Value::LiteralString(first), Value::LiteralString(second)) => Some((first, second)),
        _ => None,
    }
}

/// A code's bytes, big-endian, as adobe-cmap-parser reads them (bits past 32 shifted out).
fn code(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |code, &byte| (code << 8) | u32::from(byte))
}

#[cfg(test)]
mod tests;
