//! Names and the integers after them, read from a PDF's bytes as lopdf's parser reads them,
//! for the checks that run before lopdf loads a file: they cannot read its dictionaries, so
//! every name counts wherever it stands.

/// Every name in `bytes` (`#xx` escapes decoded) and where the text after it begins.
pub fn names(bytes: &[u8]) -> impl Iterator<Item = (Vec<u8>, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let slash = at + bytes.get(at..)?.iter().position(|&byte| byte == b'/')?;
        let (name, after) = name(bytes, slash + 1);
        at = after;
        Some((name, after))
    })
}

/// The unsigned integer at `at`, past blanks and comments, and where it ends; saturating,
/// since every bound it is held to is far below.
pub fn integer(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut at = past_blanks(bytes, at)?;
    if bytes.get(at) == Some(&b'+') {
        at += 1;
    }
    let digits = bytes.get(at..)?.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let value = bytes[at..at + digits]
        .iter()
        .fold(0u64, |value, digit| value.saturating_mul(10).saturating_add(u64::from(digit - b'0')));
    (digits > 0).then_some((value, at + digits))
}

/// The unsigned integers of the array at `at` (`[ … ]`), up to the first that is not one.
pub fn integers(bytes: &[u8], at: usize) -> Vec<u64> {
    let mut values = Vec::new();
    let Some(open) = past_blanks(bytes, at).filter(|&open| bytes[open] == b'[') else { return values };
    let mut at = open + 1;
    while let Some((value, end)) = integer(bytes, at) {
        values.push(value);
        at = end;
    }
    values
}

/// The name from `at` (after its `/`), `#xx` escapes decoded, and where it ends: at a blank,
/// a delimiter or a `#` without two hex digits, as lopdf's parser ends it.
fn name(bytes: &[u8], mut at: usize) -> (Vec<u8>, usize) {
    let mut name = Vec::new();
    while let Some(&byte) = bytes.get(at) {
        if byte == b'#' {
            let hex = bytes.get(at + 1..at + 3).and_then(|hex| std::str::from_utf8(hex).ok());
            let Some(decoded) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) else { break };
            name.push(decoded);
            at += 3;
        } else if ends_name(byte) {
            break;
        } else {
            name.push(byte);
            at += 1;
        }
    }
    (name, at)
}

/// Where the text from `at` goes on past blanks and comments; none at the end of `bytes`.
fn past_blanks(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        match *bytes.get(at)? {
            byte if blank(byte) => at += 1,
            b'%' => at += bytes[at..].iter().position(|&byte| byte == b'\n' || byte == b'\r')?,
            _ => return Some(at),
        }
    }
}

/// lopdf's white space.
pub fn blank(byte: u8) -> bool {
    b" \t\n\r\0\x0C".contains(&byte)
}

/// A blank or a delimiter: where lopdf ends a name.
pub fn ends_name(byte: u8) -> bool {
    blank(byte) || b"()<>[]{}/%".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(bytes: &[u8]) -> Vec<Vec<u8>> {
        names(bytes).map(|(name, _)| name).collect()
    }

    #[test]
    fn names_end_and_unescape_as_lopdf_reads_them() {
        assert_eq!(named(b"<</Type/XRef /Col#75mns 5>>"), [b"Type".to_vec(), b"XRef".to_vec(), b"Columns".to_vec()]);
        assert_eq!(named(b"/A#4 /B#zz"), [b"A".to_vec(), b"B".to_vec()]);
        assert_eq!(named(b"no names"), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn integers_are_read_past_blanks_and_comments() {
        assert_eq!(integer(b"/Columns % a comment\n+77", 8), Some((77, 24)));
        assert_eq!(integer(b" -5", 0), None);
        assert_eq!(integer(b" 99999999999999999999999", 0).map(|(value, _)| value), Some(u64::MAX));
        assert_eq!(integers(b" [0 10 20 %c\n 5] ", 0), [0, 10, 20, 5]);
        assert_eq!(integers(b" [0 1 R] ", 0), [0, 1]);
        assert_eq!(integers(b" 7", 0), Vec::<u64>::new());
    }
}
