use std::io::Write;

use flate2::write::{DeflateEncoder, ZlibEncoder};
use flate2::Compression;

use super::*;

const MIB: usize = 1 << 20;

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Raw deflate behind two bytes that are no zlib header: lopdf's fallback reads it.
fn headless(data: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(vec![0, 0], Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn lzw(data: &[u8], early_change: bool) -> Vec<u8> {
    let mut encoder = if early_change {
        weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
    } else {
        weezl::encode::Encoder::new(weezl::BitOrder::Msb, 8)
    };
    encoder.encode(data).unwrap()
}

/// Adobe's ASCII85, `z` for four zeros, a line break every 16 groups, with its end marker.
fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, group) in data.chunks(4).enumerate() {
        if i % 16 == 15 {
            out.push(b'\n');
        }
        let mut word = [0u8; 4];
        word[..group.len()].copy_from_slice(group);
        let mut word = u32::from_be_bytes(word);
        if word == 0 && group.len() == 4 {
            out.push(b'z');
            continue;
        }
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = (word % 85) as u8 + b'!';
            word /= 85;
        }
        out.extend_from_slice(&digits[..group.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

/// A stream's dictionary entries and its data as written.
struct Encoded {
    entries: String,
    data: Vec<u8>,
}

/// `data` encoded by `filters`, named in the order a reader decodes them.
fn encoded(filters: &[&str], data: &[u8]) -> Encoded {
    let mut written = data.to_vec();
    for filter in filters.iter().rev() {
        written = match *filter {
            "FlateDecode" => zlib(&written),
            "ASCII85Decode" => ascii85(&written),
            "LZWDecode" => lzw(&written, true),
            other => panic!("no encoder for {other}"),
        };
    }
    let names: Vec<String> = filters.iter().map(|name| format!("/{name}")).collect();
    Encoded { entries: format!("/Filter [{}]", names.join(" ")), data: written }
}

fn flate(data: &[u8]) -> Encoded {
    encoded(&["FlateDecode"], data)
}

/// A page's text, then `blanks` spaces: a content stream that decodes as far as asked.
fn content(blanks: usize) -> Vec<u8> {
    let mut content = b"BT /F1 10 Tf 50 780 Td (Hello stream) Tj ET\n".to_vec();
    content.resize(content.len() + blanks, b' ');
    content
}

/// A one-page PDF whose page shows `content`, with more streams beside it (each with extra
/// dictionary entries).
fn pdf(content: Encoded, extra: Vec<(&str, Encoded)>) -> Vec<u8> {
    let stream = |entries: &str, stream: Encoded| {
        crate::corpus::pdf_stream(&format!("{} {entries}", stream.entries), &stream.data)
    };
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>"
            .to_vec(),
        stream("", content),
    ];
    objects.extend(extra.into_iter().map(|(entries, data)| stream(entries, data)));
    crate::corpus::pdf_file(objects)
}

fn budget(stream: usize, total: usize) -> Budget {
    Budget { stream: stream as u64, total: total as u64 }
}

fn stream_past(budget: usize) -> Result<FileChecked, Inflated> {
    Err(Inflated::Stream(budget as u64))
}

#[test]
fn a_stream_that_inflates_past_its_budget_is_refused_before_lopdf_holds_it() {
    let bomb = pdf(flate(&content(2 * MIB)), vec![]);
    assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
    assert_eq!(check_file(&bomb, budget(MIB, 8 * MIB)), stream_past(MIB));
    assert!(check_file(&bomb, budget(4 * MIB, 8 * MIB)).is_ok());
}

#[test]
fn streams_past_the_total_together_are_refused() {
    let zeros = vec![0u8; MIB];
    let fonts = (0..5).map(|_| ("", flate(&zeros))).collect();
    let many = pdf(flate(&content(0)), fonts);
    assert_eq!(check_file(&many, budget(2 * MIB, 4 * MIB)), Err(Inflated::Total(4 * MIB as u64)));
    assert!(check_file(&many, budget(2 * MIB, 8 * MIB)).is_ok());
}

/// pdf-extract reads every XObject a page draws as content, an image's pixels inflated too.
#[test]
fn images_are_counted_as_extraction_inflates_them() {
    let pixels = vec![7u8; 3 * MIB];
    let scan = pdf(flate(&content(0)), vec![("/Subtype /Image /Width 1024", flate(&pixels))]);
    assert_eq!(check_file(&scan, budget(MIB, 8 * MIB)), stream_past(MIB));
    let loaded = Document::load_mem(&scan).unwrap();
    assert_eq!(check_document(&loaded, budget(MIB, 8 * MIB), None), Err(Inflated::Stream(MIB as u64)));
    assert!(check_file(&scan, budget(4 * MIB, 8 * MIB)).is_ok());
}

#[test]
fn a_loaded_documents_streams_are_counted_as_the_files_are() {
    // The path for encrypted files, whose streams only inflate once decrypted.
    let bomb = Document::load_mem(&pdf(flate(&content(2 * MIB)), vec![])).unwrap();
    assert_eq!(check_document(&bomb, budget(MIB, 8 * MIB), None), Err(Inflated::Stream(MIB as u64)));
    assert_eq!(check_document(&bomb, budget(4 * MIB, 8 * MIB), None), Ok(()));
}

#[test]
fn extraction_refuses_a_pdf_that_inflates_past_the_default_and_reads_one_within_it() {
    let bomb = pdf(flate(&content(Budget::DEFAULT.stream as usize)), vec![]);
    let refused = crate::extract::extract("application/pdf", &bomb).unwrap_err().to_string();
    assert_eq!(refused, "the document is too large to extract: a stream inflates to more than 64 MiB");
    let read = crate::extract::extract("application/pdf", &pdf(flate(&content(MIB)), vec![])).unwrap();
    assert_eq!(read.pages.len(), 1);
    assert!(read.pages[0].contains("Hello stream"), "{:?}", read.pages);
}

/// Each chain lopdf decodes, counted as lopdf decodes it: the same bytes as its own decoding.
#[test]
fn chains_of_filters_count_what_lopdf_makes_of_them() {
    let data = content(100_000);
    let chains: [&[&str]; 6] = [
        &["FlateDecode"],
        &["LZWDecode"],
        &["ASCII85Decode"],
        &["ASCII85Decode", "FlateDecode"],
        &["FlateDecode", "FlateDecode"],
        &["ASCII85Decode", "LZWDecode", "FlateDecode"],
    ];
    let mut streams: Vec<(&str, Encoded)> = chains.iter().map(|chain| ("", encoded(chain, &data))).collect();
    streams.push((
        "/DecodeParms << /EarlyChange 0 >>",
        Encoded { entries: "/Filter /LZWDecode".into(), data: lzw(&data, false) },
    ));
    streams.push(("", Encoded { entries: "/Filter /FlateDecode".into(), data: headless(&data) }));
    let document = Document::load_mem(&pdf(flate(&content(0)), streams)).unwrap();
    let mut seen = 0;
    for object in document.objects.values() {
        let Object::Stream(stream) = object else { continue };
        let lopdfs = stream.decompressed_content().unwrap().len() as u64;
        assert_eq!(Chain::of(stream).decoded(&stream.content, Budget::DEFAULT.stream), Ok(lopdfs), "{:?}", stream.dict);
        if lopdfs == data.len() as u64 {
            seen += 1;
        }
    }
    assert_eq!(seen, chains.len() + 2, "every stream decodes to the page's text");
}

/// A stream behind another filter, behind Flate twice, in LZW, or as raw deflate behind a
/// broken zlib header: none of them reads as zlib where it starts, each decodes as far. The
/// file's check refuses the chains it follows before lopdf loads the file; the document's,
/// the others (LZW after another filter, more than [`UNREAD_DEPTH`] filters) once it has.
#[test]
fn a_stream_past_its_budget_is_refused_whatever_filters_it_names() {
    let blanks = content(2 * MIB);
    let bombs = [
        (encoded(&["ASCII85Decode", "FlateDecode"], &blanks), true),
        (encoded(&["FlateDecode", "FlateDecode"], &blanks), true),
        (encoded(&["LZWDecode"], &blanks), true),
        (encoded(&["ASCII85Decode", "ASCII85Decode", "FlateDecode"], &blanks), true),
        (Encoded { entries: "/Filter /FlateDecode".into(), data: headless(&blanks) }, true),
        (encoded(&["ASCII85Decode", "LZWDecode", "FlateDecode"], &blanks), false),
        (encoded(&["ASCII85Decode", "ASCII85Decode", "ASCII85Decode", "FlateDecode"], &blanks), false),
    ];
    for (bomb, before_loading) in bombs {
        let entries = bomb.entries.clone();
        let file = pdf(bomb, vec![]);
        let loaded = Document::load_mem(&file).unwrap();
        assert_eq!(check_document(&loaded, budget(MIB, 8 * MIB), None), Err(Inflated::Stream(MIB as u64)), "{entries}");
        assert!(check_file(&file, budget(4 * MIB, 8 * MIB)).is_ok(), "{entries}");
        if before_loading {
            assert_eq!(check_file(&file, budget(MIB, 8 * MIB)), stream_past(MIB), "{entries}");
            continue;
        }
        let checked = check_file(&file, budget(MIB, 8 * MIB)).unwrap();
        let refused = check_document(&loaded, budget(MIB, 8 * MIB), Some(checked));
        assert_eq!(refused, Err(Inflated::Stream(MIB as u64)), "{entries}");
        assert_eq!(check_document(&loaded, budget(4 * MIB, 8 * MIB), Some(checked)), Ok(()), "{entries}");
    }
}

/// The total the file's check counted carries into the document's.
#[test]
fn the_document_check_adds_to_the_files_total() {
    let chain = ["ASCII85Decode", "ASCII85Decode", "ASCII85Decode", "FlateDecode"];
    let file = pdf(flate(&content(3 * MIB)), vec![("", encoded(&chain, &content(3 * MIB)))]);
    let checked = check_file(&file, budget(4 * MIB, 5 * MIB)).unwrap();
    let loaded = Document::load_mem(&file).unwrap();
    assert_eq!(check_document(&loaded, budget(4 * MIB, 5 * MIB), Some(checked)), Err(Inflated::Total(5 * MIB as u64)));
    assert_eq!(check_document(&loaded, budget(4 * MIB, 8 * MIB), Some(checked)), Ok(()));
}

#[test]
fn extraction_reads_a_page_behind_a_chain_of_filters_and_refuses_one_past_the_default() {
    let chain = ["ASCII85Decode", "FlateDecode"];
    let read = crate::extract::extract("application/pdf", &pdf(encoded(&chain, &content(MIB)), vec![])).unwrap();
    assert!(read.pages[0].contains("Hello stream"), "{:?}", read.pages);
    let bomb = pdf(encoded(&chain, &content(Budget::DEFAULT.stream as usize)), vec![]);
    let refused = crate::extract::extract("application/pdf", &bomb).unwrap_err().to_string();
    assert_eq!(refused, "the document is too large to extract: a stream inflates to more than 64 MiB");
}

/// `data` as PNG rows of `columns` bytes, each behind its filter type (0, none), the last
/// padded with zeros.
fn png_rows(data: &[u8], columns: usize) -> Vec<u8> {
    data.chunks(columns).flat_map(|row| [&[0u8][..], row, &vec![0; columns - row.len()]].concat()).collect()
}

/// lopdf undoes a predictor after each Flate or LZW step, so what the second step reads is not
/// what the first made: the document's check undoes it between steps too.
#[test]
fn a_predictor_between_steps_is_undone_as_lopdf_undoes_it() {
    let columns = 16;
    let predicted = |blanks: usize| {
        let text = png_rows(&content(blanks), columns);
        let inner = png_rows(&zlib(&text), columns);
        let entries =
            format!("/Filter [/FlateDecode /FlateDecode] /DecodeParms << /Predictor 12 /Columns {columns} >>");
        (Encoded { entries, data: zlib(&inner) }, text.len() as u64)
    };
    let (bomb, _) = predicted(2 * MIB);
    let file = pdf(flate(&content(0)), vec![("", bomb)]);
    let checked = check_file(&file, budget(MIB, 8 * MIB)).unwrap();
    let loaded = Document::load_mem(&file).unwrap();
    assert_eq!(check_document(&loaded, budget(MIB, 8 * MIB), Some(checked)), Err(Inflated::Stream(MIB as u64)));

    let (stream, text_len) = predicted(100_000);
    let document = Document::load_mem(&pdf(flate(&content(0)), vec![("", stream)])).unwrap();
    let predicted = document
        .objects
        .values()
        .filter_map(|object| object.as_stream().ok())
        .find(|stream| stream.dict.has(b"DecodeParms"))
        .unwrap();
    let lopdfs = predicted.decompressed_content().unwrap();
    assert!(lopdfs.starts_with(b"BT /F1 10 Tf"), "{:?}", &lopdfs[..20]);
    let chain = Chain::of(predicted);
    assert!(!followed_by_the_file_check(&chain));
    // Its last step's bytes, before lopdf takes away the rows' filter types.
    assert_eq!(chain.decoded(&predicted.content, Budget::DEFAULT.stream), Ok(text_len));
}

/// A 669-byte PDF asking for 1.5 billion columns held 2.9 GB in lopdf before it read a byte.
#[test]
fn predictor_rows_past_the_budget_are_refused_before_lopdf_allocates_them() {
    let parms = |columns: u64| Encoded {
        entries: format!("/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns {columns} >>"),
        data: zlib(&png_rows(b"0123", 4)),
    };
    let file = pdf(flate(&content(0)), vec![("", parms(2 * MIB as u64))]);
    assert_eq!(check_file(&file, budget(MIB, 8 * MIB)), Err(Inflated::Row(MIB as u64)));
    let loaded = Document::load_mem(&file).unwrap();
    assert_eq!(check_document(&loaded, budget(MIB, 8 * MIB), None), Err(Inflated::Row(MIB as u64)));
    let file = pdf(flate(&content(0)), vec![("", parms(4))]);
    assert!(check_file(&file, budget(MIB, 8 * MIB)).is_ok());
    let loaded = Document::load_mem(&file).unwrap();
    assert_eq!(check_document(&loaded, budget(MIB, 8 * MIB), None), Ok(()));
}
