//! A fixed synthetic corpus for benchmarks and memory measurements: the same bytes every
//! run, in the three text formats process sees most.

const PARAGRAPHS: [&str; 4] = [
    "Keep receipts for everything you buy on the company card, and submit them within thirty days of the purchase through the reimbursement form on the intranet.",
    "Book trains over flights for trips under four hours. Hotels must stay under the city cap that finance publishes each January, breakfast included.",
    "You have twenty-five days of leave per year, plus public holidays. Unused days carry over until the end of March; after that they lapse.",
    "Digital products can be refunded within fourteen days of purchase if they have not been downloaded. Physical goods follow the thirty-day policy.",
];

/// About `bytes` of Markdown: sections with headings, each a few paragraphs.
pub fn markdown(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 1024);
    let mut section = 0;
    while text.len() < bytes {
        section += 1;
        text.push_str(&format!("## Section {section}\n\n### Part {section}.1\n\n"));
        for paragraph in PARAGRAPHS {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
    }
    text
}

/// About `bytes` of HTML with the chrome a real page has (navigation, scripts, footer).
pub fn html(bytes: usize) -> String {
    let mut page = String::from(
        "<html><head><title>Handbook</title><script>var t = 1;</script></head><body><nav><a href=\"/\">Home</a></nav>",
    );
    let mut section = 0;
    while page.len() < bytes {
        section += 1;
        page.push_str(&format!("<h2>Section {section}</h2><ul><li>First point</li><li>Second point</li></ul>"));
        for paragraph in PARAGRAPHS {
            page.push_str(&format!("<p>{paragraph} <a href=\"/policy/{section}\">More</a></p>"));
        }
    }
    page.push_str("<footer>© ACME</footer></body></html>");
    page
}

/// About `bytes` of plain text paragraphs.
pub fn plain(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 1024);
    while text.len() < bytes {
        for paragraph in PARAGRAPHS {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
    }
    text
}

/// About `bytes` of PDF: pages of the corpus's paragraphs as uncompressed text lines in
/// Helvetica, a running header and a page-number footer on each (what clean strips).
pub fn pdf(bytes: usize) -> Vec<u8> {
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        String::new(), // the page tree, once the pages are known
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    let mut pages = Vec::new();
    let mut size = 0;
    while size < bytes {
        let number = pages.len() + 1;
        let mut lines = vec!["Company handbook".to_owned()];
        for paragraph in PARAGRAPHS.iter().chain(&PARAGRAPHS) {
            lines.extend(paragraph.split(". ").map(|sentence| sentence.trim_end_matches('.').to_owned() + "."));
            lines.push(String::new());
        }
        lines.push(format!("Page {number}"));
        let mut stream = String::from("BT /F1 10 Tf 14 TL 50 780 Td\n");
        for line in &lines {
            stream.push_str(&format!("({}) Tj T*\n", line.replace('(', "\\(").replace(')', "\\)")));
        }
        stream.push_str("ET");
        objects.push(format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()));
        let content = objects.len();
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>"
        ));
        pages.push(objects.len());
        size += stream.len() + 200;
    }
    let kids: Vec<String> = pages.iter().map(|p| format!("{p} 0 R")).collect();
    objects[1] = format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len());
    pdf_file(objects.into_iter().map(String::into_bytes))
}

/// A PDF stream object: its dictionary's `entries` besides its length, then `data`.
pub fn pdf_stream(entries: &str, data: &[u8]) -> Vec<u8> {
    [format!("<< /Length {} {entries} >>\nstream\n", data.len()).as_bytes(), data, b"\nendstream"].concat()
}

/// A PDF file of `objects`, numbered from 1, the first its catalog: each object's offset in
/// the cross-reference table and the trailer after them.
pub fn pdf_file(objects: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.into_iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(&object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes());
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let trailer = format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", offsets.len() + 1);
    out.extend_from_slice(trailer.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pdf_corpus_extracts_page_by_page_without_its_furniture() {
        let pdf = super::pdf(20_000);
        let split = crate::split("application/pdf", &pdf, &crate::Settings::default(), &crate::Tokenizer).unwrap();
        assert!(split.text.contains("Keep receipts for everything you buy on the company card"), "{}", split.text);
        assert!(!split.text.contains("Company handbook") && !split.text.contains("Page 2"), "{}", split.text);
        assert!(split.chunks.iter().any(|c| c.page == Some(3)));
    }
}
