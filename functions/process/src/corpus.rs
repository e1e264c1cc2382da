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
