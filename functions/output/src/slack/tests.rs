use proptest::prelude::*;

use super::*;
use crate::format::tests::{answer, answer_with, hostile_answer, hostile_text};

/// Slack's entities back to the characters they stand for.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Every `&` in `text` begins one of the three entities `escape::mrkdwn` writes.
fn entities_whole(text: &str) -> bool {
    text.match_indices('&').all(|(i, _)| ["&amp;", "&lt;", "&gt;"].iter().any(|e| text[i..].starts_with(e)))
}

#[test]
fn built_in_message_is_block_kit_with_linked_sources() {
    let blocks = message(None, &answer()).unwrap();
    assert_eq!(blocks["blocks"][0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks["blocks"][0]["text"]["text"], "Refunds take 14 days [refunds:1:0].");
    assert_eq!(blocks["blocks"][1]["elements"][0]["text"], "<https://intra/refunds|Refund policy>");
    assert_eq!(blocks["blocks"][1]["elements"][1]["text"], "`ctx-2`");
}

#[test]
fn control_sequences_in_an_answer_or_a_source_are_shown_not_acted_on() {
    let a = answer_with(
        "<!channel> see <https://evil.example|the docs> & more".into(),
        vec![
            ("a".into(), Some("T>|<!here>".into()), Some("https://ok.example/?q=1&r=2".into())),
            ("b".into(), Some("Old".into()), Some("javascript:alert(1)".into())),
        ],
    );
    let blocks = message(None, &a).unwrap();
    assert_eq!(
        blocks["blocks"][0]["text"]["text"],
        "&lt;!channel&gt; see &lt;https://evil.example|the docs&gt; &amp; more"
    );
    assert_eq!(blocks["blocks"][1]["elements"][0]["text"], "<https://ok.example/?q=1&amp;r=2|T&gt;|&lt;!here&gt;>");
    assert_eq!(blocks["blocks"][1]["elements"][1]["text"], "`b` Old — javascript:alert(1)");
}

#[test]
fn a_callers_template_keeps_its_own_markup_and_escapes_every_value() {
    let mut a = answer();
    a.answer = "<!channel> 5 > 3".into();
    let body = message(Some("*Answer* <https://intra/ask|ask again>: {{ answer }} {{ citations[0].title }}"), &a);
    assert_eq!(
        body.unwrap()["text"],
        "*Answer* <https://intra/ask|ask again>: &lt;!channel&gt; 5 &gt; 3 Refund policy"
    );
    let body = message(Some("{{ answer | e }}"), &a).unwrap();
    assert_eq!(body["text"], "&lt;!channel&gt; 5 &gt; 3", "the escape filter escapes for Slack, once");
    let body = message(Some("{{ answer | safe }}"), &a).unwrap();
    assert_eq!(body["text"], "<!channel> 5 > 3", "a value the template marks safe is shown as it is");
}

#[test]
fn a_long_answer_is_split_into_sections_at_line_breaks() {
    // 1,751 characters a paragraph, 2,751 escaped: one section each.
    let paragraph = format!("{}\n", "word & ".repeat(250));
    let blocks = message(None, &answer_with(paragraph.repeat(3), Vec::new())).unwrap();
    let sections = blocks["blocks"].as_array().unwrap();
    assert_eq!(sections.len(), 3, "{blocks}");
    let texts: Vec<&str> = sections.iter().map(|s| s["text"]["text"].as_str().unwrap()).collect();
    assert!(texts[..2].iter().all(|t| t.ends_with("&amp; \n")), "{blocks}");
    assert!(texts[2].ends_with("word &amp;"), "the answer is trimmed: {blocks}");
}

#[test]
fn sources_go_ten_to_a_context_block() {
    let sources = (0..23).map(|i| (format!("c{i}"), None, None)).collect();
    let blocks = message(None, &answer_with("a".into(), sources)).unwrap();
    let lengths: Vec<usize> =
        blocks["blocks"].as_array().unwrap()[1..].iter().map(|b| b["elements"].as_array().unwrap().len()).collect();
    assert_eq!(lengths, [10, 10, 3]);
}

#[test]
fn an_answer_too_long_for_blocks_goes_as_text_with_its_sources() {
    let long = "x".repeat(BLOCKS_CHARS);
    let blocks = message(None, &answer_with(long.clone(), vec![("c".into(), Some("T".into()), None)])).unwrap();
    assert_eq!(blocks, json!({"text": format!("{long}\n\n`c` T")}));
    let longest = "y".repeat(TEXT_CHARS + 10);
    let blocks = message(None, &answer_with(longest, Vec::new())).unwrap();
    assert_eq!(blocks["text"], format!("{}… (cut at {TEXT_CHARS} characters)", "y".repeat(TEXT_CHARS)));
}

#[test]
fn an_answer_of_blanks_still_makes_a_message() {
    for said in ["", " \n\t "] {
        let alone = message(None, &answer_with(said.into(), Vec::new())).unwrap();
        assert_eq!(alone["blocks"][0]["text"]["text"], NO_ANSWER, "{alone}");
        assert_eq!(alone["text"], NO_ANSWER);
        let cited = message(None, &answer_with(said.into(), vec![("c".into(), None, None)])).unwrap();
        assert_eq!(cited["blocks"][0]["text"]["text"], NO_ANSWER, "{cited}");
        assert_eq!(cited["blocks"][1]["elements"][0]["text"], "`c`");
    }
    let gap = format!("first{}last", " ".repeat(2 * SECTION_CHARS));
    let blocks = message(None, &answer_with(gap, Vec::new())).unwrap();
    let sections: Vec<&str> =
        blocks["blocks"].as_array().unwrap().iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
    assert_eq!(sections.len(), 2, "the piece of blanks between is left out");
    assert!(sections[0].starts_with("first") && sections[1].ends_with("last"), "{sections:?}");
}

#[test]
fn a_callers_template_that_renders_nothing_is_refused() {
    let a = answer_with(" ".into(), Vec::new());
    let refused = message(Some("{{ answer }}"), &a).unwrap_err();
    assert!(refused.0.contains("rendered no text"), "{}", refused.0);
    assert_eq!(message(Some("Answer: {{ answer }}"), &a).unwrap()["text"], "Answer:");
}

#[test]
fn pieces_end_at_a_space_in_their_second_half_and_never_inside_an_entity() {
    assert_eq!(pieces("abcd&amp;ef", 6), ["abcd", "&amp;e", "f"]);
    assert_eq!(pieces("abc defgh", 6), ["abc ", "defgh"]);
    assert_eq!(pieces("ab cdefgh", 6), ["ab cde", "fgh"], "a space in the first half is not used");
    assert_eq!(pieces("", 6), Vec::<&str>::new());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Pieces join back to the text, none is empty or longer than asked, none splits an entity.
    #[test]
    fn any_escaped_text_splits_into_whole_pieces(text in hostile_text(200), max in 5usize..40) {
        let escaped = escape::mrkdwn(&text);
        let parts = pieces(&escaped, max);
        prop_assert_eq!(parts.concat(), escaped.clone());
        for part in &parts {
            prop_assert!(!part.is_empty() && part.chars().count() <= max && entities_whole(part), "{:?}", parts);
        }
    }

    /// Whatever an answer or its sources hold, the built-in message is within Block Kit's
    /// limits, its sections hold the answer exactly, and the only control sequences in it
    /// are its own links to web addresses.
    #[test]
    fn any_answer_and_sources_make_a_message_slack_takes(a in hostile_answer(3_000, 25)) {
        let body = message(None, &a).unwrap();
        let text = body["text"].as_str().unwrap();
        prop_assert!(text.chars().count() <= TEXT_CHARS + 40 && entities_whole(text));
        let Some(blocks) = body["blocks"].as_array() else {
            // Too long for blocks: the answer, then its sources, as text.
            prop_assert!(unescape(text).starts_with(a.answer.trim()) || text.ends_with("characters)"));
            return Ok(());
        };
        prop_assert!(blocks.len() <= MAX_BLOCKS);
        let sections: Vec<&str> = blocks.iter().filter(|b| b["type"] == "section").map(|b| b["text"]["text"].as_str().unwrap()).collect();
        for section in &sections {
            prop_assert!(!section.trim().is_empty() && section.chars().count() <= SECTION_CHARS);
            prop_assert!(!section.contains(['<', '>']) && entities_whole(section), "{}", section);
        }
        match a.answer.trim() {
            "" => prop_assert_eq!(sections, vec![NO_ANSWER]),
            said => prop_assert_eq!(unescape(&sections.concat()), said),
        }
        let elements: Vec<&str> = blocks.iter().filter(|b| b["type"] == "context")
            .flat_map(|b| b["elements"].as_array().unwrap()).map(|e| e["text"].as_str().unwrap()).collect();
        prop_assert_eq!(elements.len(), a.citations.len());
        prop_assert!(blocks.iter().filter(|b| b["type"] == "context").all(|b| b["elements"].as_array().unwrap().len() <= CONTEXT_ELEMENTS));
        for (element, cited) in elements.iter().zip(&a.citations) {
            prop_assert!(entities_whole(element), "{}", element);
            match cited.source_uri.as_deref().filter(|u| escape::is_web_link(u)) {
                Some(uri) => {
                    let inner = element.strip_prefix('<').and_then(|e| e.strip_suffix('>'));
                    let (url, label) = inner.and_then(|i| i.split_once('|')).unwrap_or_default();
                    prop_assert!(!inner.unwrap_or("<").contains(['<', '>']), "{}", element);
                    prop_assert_eq!(unescape(url), uri);
                    prop_assert_eq!(unescape(label), cited.title.clone().unwrap_or_else(|| cited.id.clone()));
                }
                None => prop_assert!(!element.contains(['<', '>']), "{}", element),
            }
        }
    }
}
