use html5ever::tendril::TendrilSink;
use markup5ever_rcdom::NodeData;
use proptest::prelude::*;

use super::*;

fn tag(attributes: usize, separator: &str) -> String {
    let attributes: Vec<String> = (0..attributes).map(|i| format!("a{i}=\"x > y\"")).collect();
    format!("<p>before</p><p {}>text</p>", attributes.join(separator))
}

/// The most attributes html5ever gives one element of `page` (duplicates dropped).
fn html5ever_most(page: &str) -> usize {
    let document = html5ever::parse_document(RcDom::default(), Default::default()).one(page).document;
    // The root stays held: dropping a node empties its descendants (rcdom's iterative drop).
    let (mut most, mut pending) = (0, vec![std::rc::Rc::clone(&document)]);
    while let Some(node) = pending.pop() {
        if let NodeData::Element { attrs, template_contents, .. } = &node.data {
            most = most.max(attrs.borrow().len());
            pending.extend(template_contents.borrow().iter().cloned());
        }
        pending.extend(node.children.borrow().iter().cloned());
    }
    most
}

#[test]
fn a_tag_past_the_most_attributes_is_refused() {
    for separator in [" ", "\n", "/", ""] {
        assert_eq!(check(&tag(MAX_ATTRIBUTES, separator)), Ok(()), "{separator:?}");
        let refused = check(&tag(MAX_ATTRIBUTES + 1, separator)).unwrap_err();
        assert_eq!(refused, "an element has more than 256 attributes");
    }
    let unquoted: Vec<String> = (0..=MAX_ATTRIBUTES).map(|i| format!("a{i}=x")).collect();
    assert!(check(&format!("<div {}>", unquoted.join(" "))).is_err());
}

#[test]
fn html5ever_finds_what_the_pages_hold() {
    assert_eq!(html5ever_most("<div a b c>x</div><p d>"), 3);
    assert_eq!(html5ever_most(&tag(40, " ")), 40);
}

#[test]
fn text_and_values_are_not_attributes() {
    let words = "a b c ".repeat(MAX_ATTRIBUTES);
    assert_eq!(most_attributes(&format!("<p>{words}</p> 1 < 2 {words}")), 0);
    assert_eq!(most_attributes(&format!("<p title=\"{words}\" alt='{words}'>x</p>")), 2);
    assert_eq!(most_attributes("<p a = \"1\" b =2>"), 2);
}

/// Hiding a tag's attributes behind a context the scan might misread: a quote opened in a
/// comment or a script, a `>` inside a value, a `<` inside a name.
#[test]
fn attributes_hidden_behind_another_context_are_still_counted() {
    let many: Vec<String> = (0..=MAX_ATTRIBUTES).map(|i| format!("b{i}")).collect();
    let many = many.join(" ");
    for page in [
        format!("<!-- <p a=\" --> <div {many}>"),
        format!("<script> <p a=\" </script> <div {many}>"),
        format!("<p a0 q=\">\" {many}>"),
        format!("<p a0 <x {many}>"),
        format!("<p a=x\"> <div {many}>"),
        format!("<![CDATA[ > <div {many}> ]]>"),
    ] {
        assert!(html5ever_most(&page) > MAX_ATTRIBUTES, "the page is a bomb: {page:.60}");
        assert!(check(&page).is_err(), "{page:.60}");
    }
}

#[test]
fn a_page_parsed_in_pieces_is_the_page_parsed_at_once() {
    // Several pieces, multi-byte characters across their boundaries.
    let page: String =
        (0..8_000).map(|i| format!("<p class=c{i}>Paragraph {i}: café — 日本語 <b>bold</b></p>")).collect();
    assert!(page.len() > 4 * PIECE_BYTES, "{}", page.len());
    let converter = htmd::HtmlToMarkdown::new();
    let pieces = converter.tree_to_markdown(&parse(&page, PARSE_BUDGET).unwrap());
    assert_eq!(pieces, converter.convert(&page).unwrap());
}

#[test]
fn a_page_the_parser_takes_too_long_over_is_refused() {
    // The tree builder walks 5,000 open elements for each list item.
    let page = format!("{}{}", "<div>".repeat(5_000), "<li>x</li>".repeat(5_000));
    let started = std::time::Instant::now();
    let refused = parse(&page, Duration::from_millis(1)).unwrap_err();
    assert_eq!(refused, "the HTML took more than 0 s to parse");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(parse(&page, Duration::from_secs(600)).is_ok());
}

fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "<p",
        "<a",
        "</p",
        "<b ",
        "<",
        ">",
        "/",
        "=",
        "\"",
        "'",
        " ",
        "\n",
        "\r",
        "\t",
        "x",
        "y1",
        "<!--",
        "-->",
        "<!",
        "<?",
        "<script>",
        "</script>",
        "<style>",
        "</style>",
        "<textarea>",
        "</textarea>",
        "<title>",
        "<svg>",
        "<![CDATA[",
        "]]>",
        "<template>",
        "<plaintext>",
        "&",
        "é",
        "\u{0}",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The scan counts at least what html5ever finds on any element, whatever surrounds it.
    #[test]
    fn the_scan_counts_at_least_what_html5ever_finds(fragments in prop::collection::vec(fragment(), 0..60)) {
        let page = fragments.concat();
        let (counted, found) = (most_attributes(&page), html5ever_most(&page));
        prop_assert!(counted >= found, "{:?}: counted {}, html5ever {}", page, counted, found);
    }
}
