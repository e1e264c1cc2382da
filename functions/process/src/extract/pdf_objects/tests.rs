use super::*;

/// A page of text, then a cross-reference stream naming `entries` objects that take no bytes
/// each, so every one is at offset 0, where lopdf finds the catalog.
fn pdf(entries: u64) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n".to_vec();
    let objects: [&[u8]; 4] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length 42 >>\nstream\nBT /F1 10 Tf 50 780 Td (Hello xref) Tj ET\nendstream",
    ];
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("5 0 obj\n<< /Type /XRef /Size 6 /W [0 0 0] /Index [0 {entries}] /Root 1 0 R /Length 0 >>\nstream\n\nendstream\nendobj\n")
            .as_bytes(),
    );
    out.extend_from_slice(format!("startxref\n{xref}\n%%EOF\n").as_bytes());
    out
}

#[test]
fn entries_named_past_the_bound_are_refused_before_lopdf_lists_them() {
    assert_eq!(check_entries(&pdf(MAX_ENTRIES)), Err(TooManyEntries), "the stream's /Size counts too");
    assert_eq!(check_entries(&pdf(MAX_ENTRIES - 6)), Ok(()));
    assert_eq!(check_entries(b"/Index [0 4000000 10 300000]"), Err(TooManyEntries));
    assert_eq!(check_entries(b"/Siz#65 5000000"), Err(TooManyEntries));
    assert_eq!(check_entries(&crate::corpus::pdf(20_000)), Ok(()));
}

/// lopdf parses the catalog at offset 0 once for each entry; without the filter it held all
/// 20,000 copies before building its map of objects. The map is the same.
#[test]
fn an_object_named_by_many_entries_loads_as_lopdf_loads_it() {
    let file = pdf(20_000);
    let plain = Document::load_mem(&file).unwrap();
    let loaded = load(&file).unwrap();
    assert_eq!(loaded.reference_table.entries.len(), 20_000);
    assert_eq!(loaded.objects, plain.objects);
    assert_eq!(KEPT.with_borrow(HashSet::len), 0, "the set is emptied after the load");
}

#[test]
fn the_filter_keeps_the_first_copy_and_gives_streams_a_placeholder() {
    KEPT.with_borrow_mut(HashSet::clear);
    let mut catalog = Object::Dictionary(pdf_extract::Dictionary::new());
    assert_eq!(first_copy((1, 0), &mut catalog), Some(((1, 0), catalog.clone())));
    assert_eq!(first_copy((1, 0), &mut catalog), None);
    let mut stream = Object::Stream(pdf_extract::Stream::new(pdf_extract::Dictionary::new(), b"data".to_vec()));
    assert_eq!(first_copy((2, 0), &mut stream), Some(((2, 0), Object::Null)));
    assert!(matches!(stream, Object::Stream(_)), "lopdf keeps the stream itself");
    KEPT.with_borrow_mut(HashSet::clear);
}

fn modern_bytes() -> Vec<u8> {
    let mut modern = Vec::new();
    Document::load_mem(&crate::corpus::pdf(20_000)).unwrap().save_modern(&mut modern).unwrap();
    modern
}

/// Objects from object streams are what the filter gives back; objects at offsets are
/// lopdf's own.
#[test]
fn a_document_loads_the_same_with_the_filter() {
    for file in [crate::corpus::pdf(20_000), modern_bytes()] {
        let plain = Document::load_mem(&file).unwrap();
        let loaded = load(&file).unwrap();
        assert_eq!(loaded.objects, plain.objects);
    }
    let modern = Document::load_mem(&modern_bytes()).unwrap();
    let in_streams = modern
        .reference_table
        .entries
        .values()
        .filter(|entry| matches!(entry, pdf_extract::xref::XrefEntry::Compressed { .. }));
    assert!(in_streams.count() > 10, "the saved file keeps its objects in object streams");
}
