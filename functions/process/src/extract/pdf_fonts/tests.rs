use super::*;

/// A `ToUnicode` map with `sections` between its header and its end.
fn cmap(sections: &str) -> Vec<u8> {
    format!(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         1 begincodespacerange <0000> <FFFF> endcodespacerange\n{sections}\nendcmap\n\
         CMapName currentdict /CMap defineresource pop\nend\nend\n"
    )
    .into_bytes()
}

/// The count agrees with the map adobe-cmap-parser builds, where no code is mapped twice.
#[test]
fn the_count_is_the_entries_adobe_cmap_parser_makes() {
    let maps = [
        "2 beginbfchar\n<0003> <0020>\n<0011> <002E>\nendbfchar",
        "1 beginbfrange\n<0020> <007E> <0020>\nendbfrange",
        "1 beginbfrange\n<0100> <0102> [<0041> <0042> <0043>]\nendbfrange",
        "1 beginbfrange\n<0200> <02FF> <00410042>\nendbfrange",
        "2 beginbfchar\n<01> <0041>\n<02> <0042>\nendbfchar\n2 beginbfrange\n<10> <1F> <0061>\n<20> <21> [<0030> <0031>]\nendbfrange",
    ];
    for sections in maps {
        let cmap = cmap(sections);
        let built = adobe_cmap_parser::get_unicode_map(&cmap).unwrap();
        assert_eq!(mapped(&cmap), built.len() as u64, "{sections}");
        assert!(!built.is_empty());
    }
}

#[test]
fn a_range_is_counted_without_being_built() {
    assert_eq!(mapped(&cmap("1 beginbfrange\n<00000000> <FFFFFFFF> <0041>\nendbfrange")), 1 << 32);
    assert_eq!(mapped(&cmap("1 beginbfrange\n<0010> <0001> <0041>\nendbfrange")), 0);
}

/// adobe-cmap-parser inserts entries until it reaches one it cannot read, then fails.
#[test]
fn entries_count_up_to_where_the_parser_fails() {
    let sections = "3 beginbfrange\n<0000> <00FF> <0041>\n<0100> <0101> [<0041>]\n<0200> <0FFF> <0041>\nendbfrange";
    assert_eq!(mapped(&cmap(sections)), 256);
    assert_eq!(mapped(b"beginbfrange <0000> <FFFF> <0041> endbfrange"), 0, "no count before it");
    assert_eq!(mapped(b"not a ( cmap"), 0);
}

/// A one-page PDF showing text in one font per entry of `fonts`, each reading its
/// `ToUnicode` map from `maps[entry]`.
fn pdf(fonts: &[usize], maps: &[Vec<u8>]) -> Vec<u8> {
    let first_font = 6 + maps.len();
    let names: String = (0..fonts.len()).map(|i| format!("/F{i} {} 0 R ", first_font + i)).collect();
    let text: String =
        (0..fonts.len()).map(|i| format!("BT /F{i} 10 Tf 50 {} Td (Hello fonts) Tj ET\n", 700 - 20 * i)).collect();
    let stream = |data: &[u8]| crate::corpus::pdf_stream("", data);
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << {names}>> >> /Contents 5 0 R >>")
            .into_bytes(),
        stream(text.as_bytes()),
    ];
    objects.extend(maps.iter().map(|map| stream(map)));
    objects.extend(fonts.iter().map(|map| {
        format!("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode {} 0 R >>", 6 + map).into_bytes()
    }));
    crate::corpus::pdf_file(objects)
}

#[test]
fn fonts_mapping_too_many_codes_together_are_refused_and_a_shared_map_counts_once() {
    let half = cmap(&format!("1 beginbfrange\n<000000> <{:06X}> <0041>\nendbfrange", MAX_MAPPED_CODES / 2 - 1));
    let one = Document::load_mem(&pdf(&[0], std::slice::from_ref(&half))).unwrap();
    assert_eq!(check(&one), Ok(()));
    let shared = Document::load_mem(&pdf(&[0, 0, 0], std::slice::from_ref(&half))).unwrap();
    assert_eq!(check(&shared), Ok(()));
    let three = Document::load_mem(&pdf(&[0, 1, 2], &[half.clone(), half.clone(), half])).unwrap();
    assert_eq!(check(&three), Err(TooManyCodes));
}

#[test]
fn extraction_refuses_a_font_mapping_millions_of_codes_and_reads_one_within_the_bound() {
    let bomb = pdf(&[0], &[cmap("1 beginbfrange\n<00000000> <FFFFFFFF> <0041>\nendbfrange")]);
    let refused = crate::extract::extract("application/pdf", &bomb).unwrap_err().to_string();
    assert_eq!(refused, "the document is too large to extract: its fonts' character maps map more than 2097152 codes");
    let read = pdf(&[0], &[cmap("1 beginbfrange\n<0020> <007E> <0020>\nendbfrange")]);
    let read = crate::extract::extract("application/pdf", &read).unwrap();
    assert!(read.pages[0].contains("Hello fonts"), "{:?}", read.pages);
}
