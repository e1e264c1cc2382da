//! The longest predictor row a file's dictionaries could ask lopdf for, read from its bytes
//! before it loads them. lopdf allocates two rows (`Columns` × `Colors` × `BitsPerComponent`)
//! before it reads a predicted stream's data: a 669-byte PDF asking for 1.5 billion columns
//! held 2.9 GB. Cross-reference and object streams are decoded as lopdf loads the file, so
//! their dictionaries can only be read here, where no name is resolved: every one counts.

use crate::extract::pdf_names::{integer, names};

/// The largest `Columns` × `Colors` × `BitsPerComponent` / 8 the file's names give, each
/// the largest anywhere, each at least lopdf's least (1, 1, 8).
pub fn longest(bytes: &[u8]) -> u64 {
    let (mut columns, mut colors, mut bits) = (1u64, 1u64, 8u64);
    for (name, after) in names(bytes) {
        let largest = match name.as_slice() {
            b"Columns" => &mut columns,
            b"Colors" => &mut colors,
            b"BitsPerComponent" => &mut bits,
            _ => continue,
        };
        if let Some((value, _)) = integer(bytes, after) {
            *largest = (*largest).max(value);
        }
    }
    columns.saturating_mul(colors).saturating_mul(bits) / 8
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

    /// A negative or missing value leaves lopdf's least; escaped names count.
    #[test]
    fn values_lopdf_would_not_read_leave_its_least() {
        assert_eq!(longest(b"/Col#75mns 1500000000"), 1_500_000_000);
        assert_eq!(longest(b"/Columns -5 /Colors /BitsPerComponent 4"), 1);
        assert_eq!(longest(b"/ColumnsX 900 /Columns[900]"), 1);
        assert_eq!(longest(b"/Columns 99999999999999999999999 /Colors 4"), u64::MAX / 8);
    }
}
