//! The longest predictor row a file's dictionaries could ask lopdf for, read from its bytes
//! before it loads them. lopdf allocates two rows (`Columns` × `Colors` × `BitsPerComponent`)
//! before it reads a predicted stream's data: a 669-byte PDF asking for 1.5 billion columns
//! held 2.9 GB. Cross-reference and object streams are decoded as lopdf loads the file, so
//! their dictionaries can only be read here, where no name is resolved: every one counts.

/// The largest `Columns` × `Colors` × `BitsPerComponent` / 8 the file's names give, each
/// the largest anywhere, each at least lopdf's least (1, 1, 8).
pub fn longest(bytes: &[u8]) -> u64 {
    let (mut columns, mut colors, mut bits) = (1u64, 1u64, 8u64);
    let mut at = 0;
    while let Some(slash) = bytes[at..].iter().position(|&byte| byte == b'/').map(|i| at + i) {
        let (name, after) = name(bytes, slash + 1);
        at = after;
        let largest = match name.as_slice() {
            b"Columns" => &mut columns,
            b"Colors" => &mut colors,
            b"BitsPerComponent" => &mut bits,
            _ => continue,
        };
        if let Some(value) = integer(bytes, after) {
            *largest = (*largest).max(value);
        }
    }
    columns.saturating_mul(colors).saturating_mul(bits) / 8
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
        } else if blank(byte) || b"()<>[]{}/%".contains(&byte) {
            break;
        } else {
            name.push(byte);
            at += 1;
        }
    }
    (name, at)
}

/// The unsigned integer after `at`, past blanks and comments, saturating: no row that large
/// fits anyway.
fn integer(bytes: &[u8], mut at: usize) -> Option<u64> {
    loop {
        match *bytes.get(at)? {
            byte if blank(byte) => at += 1,
            b'%' => at += bytes[at..].iter().position(|&byte| byte == b'\n' || byte == b'\r')?,
            _ => break,
        }
    }
    if bytes.get(at) == Some(&b'+') {
        at += 1;
    }
    let digits: Vec<u64> =
        bytes[at..].iter().map_while(|byte| byte.is_ascii_digit().then(|| u64::from(byte - b'0'))).collect();
    (!digits.is_empty())
        .then(|| digits.iter().fold(0u64, |value, digit| value.saturating_mul(10).saturating_add(*digit)))
}

/// lopdf's white space.
fn blank(byte: u8) -> bool {
    b" \t\n\r\0\x0C".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::longest;

    #[test]
    fn a_row_is_the_largest_columns_colors_and_bits_anywhere() {
        assert_eq!(longest(b"no dictionaries"), 1);
        let xref = b"<< /Type /XRef /DecodeParms << /Columns 5 /Predictor 12 >> >>";
        assert_eq!(longest(xref), 5);
        let image = b"<< /DecodeParms << /Predictor 15 /Colors 3 /BitsPerComponent 16 /Columns 1000 >> >>";
        assert_eq!(longest(image), 6000);
    }

    /// Escaped names, comments before the value and signs read as lopdf reads them; a
    /// negative or missing value leaves lopdf's least.
    #[test]
    fn names_are_read_as_lopdf_reads_them() {
        assert_eq!(longest(b"/Col#75mns 1500000000"), 1_500_000_000);
        assert_eq!(longest(b"/Columns % a comment\n+77"), 77);
        assert_eq!(longest(b"/Columns -5 /Colors /BitsPerComponent 4"), 1);
        assert_eq!(longest(b"/ColumnsX 900 /Columns[900]"), 1);
        assert_eq!(longest(b"/Columns 99999999999999999999999 /Colors 4"), u64::MAX / 8);
    }
}
