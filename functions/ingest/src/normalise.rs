//! Bytes in any common encoding → clean UTF-8 text: the byte order mark or the declared
//! charset decides the encoding, else it is detected; then Unicode NFC, `\n` newlines, and
//! no NUL or other control characters. Pure: no I/O.

use encoding_rs::Encoding;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("unknown charset {0:?}")]
    UnknownCharset(String),
    #[error("the bytes are not valid {0}")]
    Undecodable(&'static str),
    #[error("the document has no text")]
    Empty,
}

/// The encoding a byte order mark announces, and the mark's length.
fn sniff_bom(bytes: &[u8]) -> Option<(TextEncoding, usize)> {
    // UTF-32LE's mark starts with UTF-16LE's, so it is tried first.
    match bytes {
        [0xFF, 0xFE, 0x00, 0x00, ..] => Some((TextEncoding::Utf32 { big_endian: false }, 4)),
        [0x00, 0x00, 0xFE, 0xFF, ..] => Some((TextEncoding::Utf32 { big_endian: true }, 4)),
        [0xEF, 0xBB, 0xBF, ..] => Some((TextEncoding::Other(encoding_rs::UTF_8), 3)),
        [0xFF, 0xFE, ..] => Some((TextEncoding::Other(encoding_rs::UTF_16LE), 2)),
        [0xFE, 0xFF, ..] => Some((TextEncoding::Other(encoding_rs::UTF_16BE), 2)),
        _ => None,
    }
}

/// encoding_rs decodes every WHATWG encoding; UTF-32, which the web dropped, is done here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextEncoding {
    Utf32 { big_endian: bool },
    Other(&'static Encoding),
}

impl TextEncoding {
    fn for_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-32" | "utf32" | "utf-32le" => Some(TextEncoding::Utf32 { big_endian: false }),
            "utf-32be" => Some(TextEncoding::Utf32 { big_endian: true }),
            other => Encoding::for_label(other.as_bytes()).map(TextEncoding::Other),
        }
    }

    fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf32 { big_endian: false } => "UTF-32LE",
            TextEncoding::Utf32 { big_endian: true } => "UTF-32BE",
            TextEncoding::Other(encoding) => encoding.name(),
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<String, NormaliseError> {
        let undecodable = || NormaliseError::Undecodable(self.name());
        match self {
            TextEncoding::Utf32 { big_endian } => {
                if !bytes.len().is_multiple_of(4) {
                    return Err(undecodable());
                }
                bytes
                    .chunks_exact(4)
                    .map(|unit| {
                        let unit = [unit[0], unit[1], unit[2], unit[3]];
                        let code = if big_endian { u32::from_be_bytes(unit) } else { u32::from_le_bytes(unit) };
                        char::from_u32(code).ok_or_else(undecodable)
                    })
                    .collect()
            }
            TextEncoding::Other(encoding) => encoding
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(|text| text.into_owned())
                .ok_or_else(undecodable),
        }
    }
}

/// Which encoding `bytes` are in: the BOM's, else the declared charset, else UTF-8 when they
/// are valid UTF-8, else chardetng's guess. Returns the encoding and where the text starts.
fn choose_encoding(bytes: &[u8], declared_charset: Option<&str>) -> Result<(TextEncoding, usize), NormaliseError> {
    if let Some(found) = sniff_bom(bytes) {
        return Ok(found);
    }
    if let Some(label) = declared_charset {
        let encoding =
            TextEncoding::for_label(label).ok_or_else(|| NormaliseError::UnknownCharset(label.to_owned()))?;
        return Ok((encoding, 0));
    }
    if std::str::from_utf8(bytes).is_ok() {
        return Ok((TextEncoding::Other(encoding_rs::UTF_8), 0));
    }
    // ISO-2022-JP is allowed: documents are stored as text, never run as script.
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(bytes, true);
    Ok((TextEncoding::Other(detector.guess(None, chardetng::Utf8Detection::Deny)), 0))
}

/// Decodes `bytes` and cleans the text: NFC, `\n` newlines, no control characters but `\n`
/// and `\t`. Fails on bytes the chosen encoding cannot decode, and on text left empty.
pub fn normalise(bytes: &[u8], declared_charset: Option<&str>) -> Result<String, NormaliseError> {
    let (encoding, start) = choose_encoding(bytes, declared_charset)?;
    let decoded = encoding.decode(&bytes[start..])?;
    let text = clean(&decoded);
    if text.trim().is_empty() {
        return Err(NormaliseError::Empty);
    }
    Ok(text)
}

/// Newlines to `\n`, control characters (NUL among them) removed, then NFC.
pub fn clean(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    let mut after_cr = false;
    for c in text.chars() {
        match c {
            '\r' => cleaned.push('\n'),
            '\n' if after_cr => {}
            c if c == '\n' || c == '\t' || !(c.is_control() || c == '\u{FEFF}') => cleaned.push(c),
            _ => {}
        }
        after_cr = c == '\r';
    }
    // Composed last, so no removed character can sit between a letter and its accent. Most
    // text is already NFC; the quick check spares it the composing pass.
    if is_nfc_quick(cleaned.chars()) == IsNormalized::Yes {
        cleaned
    } else {
        cleaned.nfc().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Café déjà vu — 50 € refund\nSecond line";

    fn utf16le_with_bom(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    fn utf32be_with_bom(text: &str) -> Vec<u8> {
        let mut bytes = vec![0x00, 0x00, 0xFE, 0xFF];
        bytes.extend(text.chars().flat_map(|c| (c as u32).to_be_bytes()));
        bytes
    }

    fn windows_1252(text: &str) -> Vec<u8> {
        encoding_rs::WINDOWS_1252.encode(text).0.into_owned()
    }

    #[test]
    fn every_encoding_of_the_same_text_normalises_identically() {
        let decomposed: String = TEXT.nfd().collect();
        let mut utf8_bom = vec![0xEF, 0xBB, 0xBF];
        utf8_bom.extend(TEXT.as_bytes());
        let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
            ("utf-8", TEXT.as_bytes().to_vec(), None),
            ("utf-8 with BOM", utf8_bom, None),
            ("utf-16le with BOM", utf16le_with_bom(TEXT), None),
            ("utf-32be with BOM", utf32be_with_bom(TEXT), None),
            ("windows-1252 declared", windows_1252(TEXT), Some("windows-1252")),
            ("windows-1252 detected", windows_1252(TEXT), None),
            ("decomposed unicode", decomposed.into_bytes(), None),
            ("crlf newlines", TEXT.replace('\n', "\r\n").into_bytes(), None),
        ];
        for (name, bytes, charset) in cases {
            assert_eq!(normalise(&bytes, charset).as_deref(), Ok(TEXT), "{name}");
        }
    }

    #[test]
    fn latin1_and_shift_jis_decode_by_declaration_and_by_detection() {
        let latin1 = "Größe: 5 µm, ½ Preis";
        let latin1_bytes: Vec<u8> = latin1.chars().map(|c| c as u32 as u8).collect();
        assert_eq!(normalise(&latin1_bytes, Some("iso-8859-1")).unwrap(), latin1);

        let japanese =
            "返金ポリシー：デジタル製品は購入後十四日以内に返金できます。ダウンロード済みの場合は対象外です。";
        let sjis = encoding_rs::SHIFT_JIS.encode(japanese).0.into_owned();
        assert_eq!(normalise(&sjis, Some("shift_jis")).unwrap(), japanese);
        assert_eq!(normalise(&sjis, None).unwrap(), japanese, "detected without a declaration");
    }

    #[test]
    fn control_characters_go_and_text_layout_stays() {
        assert_eq!(normalise(b"a\0b\x07c\td\r\ne\rf", None).unwrap(), "abc\td\ne\nf");
        // A control character between a letter and its accent no longer blocks composing.
        assert_eq!(clean("e\u{0}\u{301}"), "\u{e9}");
    }

    #[test]
    fn bytes_the_declared_charset_cannot_decode_are_refused() {
        assert_eq!(normalise(b"caf\xE9", Some("utf-8")), Err(NormaliseError::Undecodable("UTF-8")));
        assert_eq!(normalise(&[0xFF, 0xFE, 0x00, 0x00, 0x41], None), Err(NormaliseError::Undecodable("UTF-32LE")));
    }

    #[test]
    fn unknown_charsets_and_empty_text_are_refused() {
        assert_eq!(normalise(b"x", Some("klingon")), Err(NormaliseError::UnknownCharset("klingon".into())));
        assert_eq!(normalise(b" \0\r\n\t", None), Err(NormaliseError::Empty));
    }
}
