use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::*;

const MIB: usize = 1 << 20;

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A page's text, then `blanks` spaces: a content stream that inflates as far as asked.
fn content(blanks: usize) -> Vec<u8> {
    let mut content = b"BT /F1 10 Tf 50 780 Td (Hello stream) Tj ET\n".to_vec();
    content.resize(content.len() + blanks, b' ');
    content
}

/// A one-page PDF whose page shows `content` (Flate), with more Flate streams beside it
/// (each its dictionary's extra entries and its data before compressing).
fn pdf(content: &[u8], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let stream = |entries: &str, data: &[u8]| {
        let compressed = zlib(data);
        let mut object =
            format!("<< /Length {} /Filter /FlateDecode {entries} >>\nstream\n", compressed.len()).into_bytes();
        object.extend_from_slice(&compressed);
        object.extend_from_slice(b"\nendstream");
        object
    };
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>"
            .to_vec(),
        stream("", content),
    ];
    objects.extend(extra.iter().map(|(entries, data)| stream(entries, data)));
    crate::corpus::pdf_file(objects)
}

fn budget(stream: usize, total: usize) -> Budget {
    Budget { stream: stream as u64, total: total as u64 }
}

#[test]
fn a_stream_that_inflates_past_its_budget_is_refused_before_lopdf_holds_it() {
    let bomb = pdf(&content(2 * MIB), &[]);
    assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
    assert_eq!(check_file(&bomb, budget(MIB, 8 * MIB)), Err(Inflated::Stream(MIB as u64)));
    assert_eq!(check_file(&bomb, budget(4 * MIB, 8 * MIB)), Ok(()));
}

#[test]
fn streams_past_the_total_together_are_refused() {
    let zeros = vec![0u8; MIB];
    let fonts: Vec<(&str, &[u8])> = (0..5).map(|_| ("", zeros.as_slice())).collect();
    let many = pdf(&content(0), &fonts);
    assert_eq!(check_file(&many, budget(2 * MIB, 4 * MIB)), Err(Inflated::Total(4 * MIB as u64)));
    assert_eq!(check_file(&many, budget(2 * MIB, 8 * MIB)), Ok(()));
}

/// pdf-extract reads every XObject a page draws as content, an image's pixels inflated too.
#[test]
fn images_are_counted_as_extraction_inflates_them() {
    let pixels = vec![7u8; 3 * MIB];
    let scan = pdf(&content(0), &[("/Subtype /Image /Width 1024", &pixels)]);
    assert_eq!(check_file(&scan, budget(MIB, 8 * MIB)), Err(Inflated::Stream(MIB as u64)));
    let loaded = Document::load_mem(&scan).unwrap();
    assert_eq!(check_document(&loaded, budget(MIB, 8 * MIB)), Err(Inflated::Stream(MIB as u64)));
    assert_eq!(check_file(&scan, budget(4 * MIB, 8 * MIB)), Ok(()));
}

#[test]
fn a_loaded_documents_streams_are_counted_as_the_files_are() {
    // The path for encrypted files, whose streams only inflate once decrypted.
    let bomb = Document::load_mem(&pdf(&content(2 * MIB), &[])).unwrap();
    assert_eq!(check_document(&bomb, budget(MIB, 8 * MIB)), Err(Inflated::Stream(MIB as u64)));
    assert_eq!(check_document(&bomb, budget(4 * MIB, 8 * MIB)), Ok(()));
}

#[test]
fn extraction_refuses_a_pdf_that_inflates_past_the_default_and_reads_one_within_it() {
    let bomb = pdf(&content(Budget::DEFAULT.stream as usize), &[]);
    let refused = crate::extract::extract("application/pdf", &bomb).unwrap_err().to_string();
    assert_eq!(refused, "the document is too large to extract: a stream inflates to more than 64 MiB");
    let read = crate::extract::extract("application/pdf", &pdf(&content(MIB), &[])).unwrap();
    assert_eq!(read.pages.len(), 1);
    assert!(read.pages[0].contains("Hello stream"), "{:?}", read.pages);
}
