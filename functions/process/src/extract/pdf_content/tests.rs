use pdf_extract::content::Content;

use super::*;

/// What lopdf makes of `content`: its operators and their operands, arrays and dictionaries
/// counted by their elements.
fn lopdfs(content: &[u8]) -> u64 {
    fn size(object: &Object) -> u64 {
        match object {
            Object::Array(items) => 1 + items.iter().map(size).sum::<u64>(),
            Object::Dictionary(dictionary) => 1 + dictionary.iter().map(|(_, value)| 1 + size(value)).sum::<u64>(),
            _ => 1,
        }
    }
    let operations = Content::decode(content).map(|content| content.operations).unwrap_or_default();
    operations.iter().map(|operation| 1 + operation.operands.iter().map(size).sum::<u64>()).sum()
}

#[test]
fn the_count_is_at_least_what_lopdf_makes() {
    let contents: [&[u8]; 8] = [
        b"BT /F1 10 Tf 50 780 Td (Hello (nested) \\) world) Tj ET",
        b"q 1 0 0 1 50 50 cm 0 0 m 10 10 l S Q",
        b"1Q1Q1Q1Q-2.5 .5+3 re f 0.0.0.0.0 m",
        b"[(A) -120 (B) <0041>] TJ /P <</MCID 3 /Alt (x)>> BDC EMC",
        b"BI /W 2 /H 2 /BPC 8 /CS /G ID \x80\x81\x82\x83 EI q Q q Q",
        b"% a comment\nq Q /Name#20x Do",
        b"true false null 1 2 3 d0",
        b"q\x80Q q Q",
    ];
    for content in contents {
        let made = lopdfs(content);
        assert!(made > 0, "{:?}", String::from_utf8_lossy(content));
        assert!(tokens(content) >= made, "{:?}: {} < {made}", String::from_utf8_lossy(content), tokens(content));
    }
}

/// A picture's bytes stop lopdf's parser at once, and the count with it.
/// After an inline image lopdf goes on where the image's dictionary says its data ends, so
/// every place a token could begin counts: data holding ` EI` and a byte past ASCII early
/// cannot hide the operations after it.
#[test]
fn after_an_inline_image_every_place_a_token_could_begin_counts() {
    let ops = b"q Q ".repeat(1000);
    let hidden = [&b"BI /W 1 /H 1 /BPC 8 /CS /G /L 100 ID  EI \x80"[..], &[b'x'; 90], b" EI ", &ops].concat();
    assert!(tokens(&hidden) >= 2000, "{}", tokens(&hidden));
    // 1 . 2 . 3, 1 Q 1 Q, / Ab, ( x y: a string's words count too.
    assert_eq!(starts(b"1.2.3 1Q1Q /Ab (x y)"), 14);
}

#[test]
fn the_count_stops_where_lopdf_stops() {
    assert_eq!(tokens(b"\x80\x81q Q q Q"), 0);
    assert_eq!(tokens(b"q Q ) q Q"), 2);
    let pixels: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    assert!(tokens(&pixels) < 100, "{}", tokens(&pixels));
}

/// A one-page PDF whose page's `/Contents` is `contents` (objects 5 on are `streams`).
fn pdf(contents: &str, streams: &[&[u8]]) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {contents} >>")
            .into_bytes(),
    ];
    objects.extend(streams.iter().map(|data| crate::corpus::pdf_stream("", data)));
    crate::corpus::pdf_file(objects)
}

#[test]
fn a_stream_or_a_page_past_the_bounds_is_refused() {
    let text = b"BT /F1 10 Tf 50 780 Td (Hello content) Tj ET\n";
    let ops = b"q Q ".repeat(MAX_TOKENS as usize / 2 + 1);
    let one = Document::load_mem(&pdf("5 0 R", &[text, &ops])).unwrap();
    assert_eq!(check(&one), Err(TooMuchContent::Stream), "a stream past the bound, drawn or not");
    let half = b"q Q ".repeat(MAX_TOKENS as usize / 4);
    let twice = Document::load_mem(&pdf("[5 0 R 6 0 R 6 0 R 6 0 R]", &[text, &half])).unwrap();
    assert_eq!(check(&twice), Err(TooMuchContent::PageTokens(1)), "a stream counts each time the page names it");
    let blanks = vec![b' '; MAX_PAGE_BYTES as usize / 2];
    let joined = Document::load_mem(&pdf("[5 0 R 6 0 R 6 0 R]", &[text, &blanks])).unwrap();
    assert_eq!(check(&joined), Err(TooMuchContent::PageBytes(1)));
    let rest = [&b"\x80 EI "[..], &b"q Q ".repeat(MAX_TOKENS as usize / 2 + 1)].concat();
    assert_eq!(tokens(&rest), 0, "alone, the stream stops at its first byte");
    let split = Document::load_mem(&pdf("[5 0 R 6 0 R]", &[b"BI /W 1 /H 1 /CS /G /BPC 8 ID", &rest])).unwrap();
    assert_eq!(
        check(&split),
        Err(TooMuchContent::PageTokens(1)),
        "an inline image opened in one stream goes on in the next"
    );
    let within = Document::load_mem(&pdf("[5 0 R 6 0 R 6 0 R]", &[text, &half[..half.len() / 2]])).unwrap();
    assert_eq!(check(&within), Ok(()));
    assert_eq!(check(&Document::load_mem(&crate::corpus::pdf(20_000)).unwrap()), Ok(()));
}

#[test]
fn extraction_refuses_a_page_past_the_bound() {
    let ops = [&b"BT /F1 10 Tf 50 780 Td (Hello content) Tj ET\n"[..], &b"q Q ".repeat(MAX_TOKENS as usize)].concat();
    let refused = crate::extract::extract("application/pdf", &pdf("5 0 R", &[&ops])).unwrap_err().to_string();
    assert_eq!(refused, "the document is too large to extract: a stream holds more than 262144 operands and operators");
}
