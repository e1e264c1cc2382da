//! The offline model: no network, deterministic, extractive. It quotes the few context
//! sentences (at most [`MAX_SENTENCES`]) that answer the question best, scored by BM25 over
//! the context's sentences, as plain text (Markdown syntax removed), in document order,
//! each passage cited. A sentence's score leans to its passage's retrieval rank; sentences
//! scoring under half the best are left out; when no sentence
//! shares a word with the question it says it found nothing. It is labelled as what it is
//! in the response's `model` and `provider`.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use seams_contracts::infer::{FinishReason, Usage};
use serde_json::json;
use unicode_segmentation::UnicodeSegmentation;

use crate::prompt::Prompt;
use crate::provider::{Completion, EventStream, ModelProvider, Params, ProviderError, Repair, StreamEvent};
use futures::StreamExt;

pub const MODEL: &str = "seams-offline-extractive-v2";

/// How many sentences an answer quotes at most: enough to answer, short enough to read.
pub const MAX_SENTENCES: usize = 3;

/// A sentence is quoted only when it scores at least this share of the best sentence.
const RELATIVE_THRESHOLD: f64 = 0.5;

/// What the offline model says when no sentence answers the question.
pub const NOTHING_FOUND: &str = "I found nothing in the documents that answers this.";

/// Words too common to say what a question is about.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "all",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "following",
    "for",
    "from",
    "give",
    "had",
    "has",
    "have",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "list",
    "me",
    "my",
    "of",
    "on",
    "or",
    "our",
    "please",
    "points",
    "should",
    "so",
    "summarise",
    "summarize",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "to",
    "was",
    "we",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "bullet",
    "briefly",
    "explain",
    "describe",
    "answer",
    "question",
];

/// A rough token count (four characters a token), used for budgets and usage alike.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

/// Lower-cased content words, with a plural `s` dropped so "refunds" meets "refund".
pub(crate) fn terms(text: &str) -> Vec<String> {
    text.unicode_words()
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") { w[..w.len() - 1].to_owned() } else { w })
        .collect()
}

/// The question inside the instructions: what follows the last `Question:` (the answer
/// workflow's template puts it there), or all of them.
fn question(instructions: &str) -> &str {
    instructions.rsplit_once("Question:").map_or(instructions, |(_, question)| question)
}

/// A line of Markdown as plain text: no quote or list marker, no emphasis or code marks,
/// links as their text, table cells apart. Headings, rules and table separators become
/// empty: a heading names a topic, it does not answer.
fn plain_line(line: &str) -> String {
    let mut rest = line.trim();
    if rest.starts_with('#') {
        return String::new();
    }
    while let Some(after) = rest.strip_prefix('>') {
        rest = after.trim_start();
    }
    for marker in ["- [ ] ", "- [x] ", "- ", "* ", "+ "] {
        if let Some(after) = rest.strip_prefix(marker) {
            rest = after;
            break;
        }
    }
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        if let Some(after) = rest[digits..].strip_prefix(". ").or_else(|| rest[digits..].strip_prefix(") ")) {
            rest = after;
        }
    }
    if rest.chars().all(|c| matches!(c, '-' | '|' | ':' | '=' | '*' | '_' | ' ')) {
        return String::new();
    }
    let mut text = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '`' => {}
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
            }
            // [text](target): keep the text, drop the target.
            ']' if chars.peek() == Some(&'(') => {
                for skipped in chars.by_ref() {
                    if skipped == ')' {
                        break;
                    }
                }
            }
            '[' => {}
            '|' => {
                if !text.trim_end().is_empty() && !text.trim_end().ends_with(';') {
                    text.truncate(text.trim_end().len());
                    text.push(';');
                }
            }
            c => text.push(c),
        }
    }
    text.trim().trim_end_matches(';').trim().to_owned()
}

/// A passage's sentences as plain text, in order. Lines end sentences too: a heading or a
/// list item is not run into the next line.
fn sentences(text: &str) -> Vec<String> {
    text.lines()
        .map(plain_line)
        .filter(|line| !line.is_empty())
        .flat_map(|line| line.unicode_sentences().map(|s| s.trim().to_owned()).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

struct Sentence {
    passage: usize,
    position: usize,
    text: String,
    score: f64,
}

/// BM25 (k1 1.2, b 0.75) of each sentence for the question's words, the sentences being the
/// collection: a word found in few sentences says more than one found in all of them.
fn score(question: &[String], sentences: &mut [Sentence]) {
    let words: Vec<Vec<String>> = sentences.iter().map(|s| terms(&s.text)).collect();
    let count = words.len() as f64;
    let average = (words.iter().map(Vec::len).sum::<usize>() as f64 / count.max(1.0)).max(1.0);
    let wanted: BTreeSet<&String> = question.iter().collect();
    let mut frequency: HashMap<&String, f64> = HashMap::new();
    for found in &words {
        for word in found.iter().filter(|w| wanted.contains(w)).collect::<BTreeSet<_>>() {
            *frequency.entry(word).or_default() += 1.0;
        }
    }
    for (sentence, found) in sentences.iter_mut().zip(&words) {
        let length = found.len() as f64;
        // Retrieval already ranked the passages: a sentence of a lower-ranked one needs to
        // match better to be quoted.
        let rank_prior = 1.0 / (1.0 + sentence.passage as f64).sqrt();
        sentence.score = rank_prior
            * wanted
                .iter()
                .map(|word| {
                    let tf = found.iter().filter(|w| w == word).count() as f64;
                    let df = frequency.get(word).copied().unwrap_or_default();
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = (1.0 + (count - df + 0.5) / (df + 0.5)).ln();
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average))
                })
                .sum::<f64>();
    }
}

/// A question that asks several things: each sentence scored for each part, as a share of
/// that part's best, keeping its best share. Every part's best sentence scores 1, so each
/// part gets its answer instead of the part with the most matching words taking them all.
fn score_each_part(parts: &[String], sentences: &mut [Sentence]) {
    let mut best_share = vec![0.0_f64; sentences.len()];
    for part in parts {
        score(&terms(part), sentences);
        let best = sentences.iter().map(|s| s.score).fold(0.0, f64::max);
        if best > 0.0 {
            for (share, sentence) in best_share.iter_mut().zip(sentences.iter()) {
                *share = share.max(sentence.score / best);
            }
        }
    }
    for (sentence, share) in sentences.iter_mut().zip(best_share) {
        sentence.score = share;
    }
}

/// The extractive answer for a prompt, within `max_tokens`.
pub fn answer(prompt: &Prompt, max_tokens: u32) -> (String, FinishReason) {
    if prompt.passages.is_empty() {
        return ("I do not know: no context was given.".to_owned(), FinishReason::Stop);
    }
    let mut sentences: Vec<Sentence> = Vec::new();
    for (passage, p) in prompt.passages.iter().enumerate() {
        for (position, text) in self::sentences(&p.text).into_iter().enumerate() {
            sentences.push(Sentence { passage, position, text, score: 0.0 });
        }
    }
    let asked = question(&prompt.instructions);
    let wanted = terms(asked);
    let parts = crate::decompose::split(asked, MAX_SENTENCES);
    if wanted.iter().all(|w| w.chars().all(|c| c.is_ascii_digit())) {
        // Nothing to look for ("Summarise the following in 3 points": numbers alone do not
        // say what a question is about): the best-ranked passages speak.
        sentences.iter_mut().for_each(|s| s.score = 1.0);
    } else if parts.len() > 1 {
        score_each_part(&parts, &mut sentences);
    } else {
        score(&wanted, &mut sentences);
    }
    let best = sentences.iter().map(|s| s.score).fold(0.0, f64::max);
    sentences.retain(|s| s.score > 0.0 && s.score >= best * RELATIVE_THRESHOLD);
    if sentences.is_empty() {
        return (NOTHING_FOUND.to_owned(), FinishReason::Stop);
    }
    // Best first: higher score, then higher-ranked passage, then earlier sentence.
    sentences
        .sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)).then(a.position.cmp(&b.position)));

    let mut chosen: Vec<&Sentence> = Vec::new();
    let mut budget = max_tokens;
    let mut finish = FinishReason::Stop;
    for sentence in &sentences {
        if chosen.len() == MAX_SENTENCES {
            break;
        }
        let id = &prompt.passages[sentence.passage].id;
        let cost = estimate_tokens(&sentence.text) + estimate_tokens(id) + 2;
        if cost > budget {
            finish = FinishReason::MaxTokens;
            continue;
        }
        budget -= cost;
        chosen.push(sentence);
    }
    // Grouped by passage, in document order within each; the passage holding the best
    // sentence first, so the answer leads with what answers best.
    let best_first: Vec<usize> = chosen.iter().map(|s| s.passage).collect();
    chosen.sort_by_key(|s| (best_first.iter().position(|&p| p == s.passage), s.position));
    let mut text = String::new();
    let mut current: Option<usize> = None;
    for sentence in &chosen {
        match current {
            Some(p) if p != sentence.passage => text.push_str(&format!(" [{}]\n", prompt.passages[p].id)),
            Some(_) => text.push(' '),
            None => {}
        }
        text.push_str(&sentence.text);
        current = Some(sentence.passage);
    }
    if let Some(p) = current {
        text.push_str(&format!(" [{}]", prompt.passages[p].id));
    }
    if text.is_empty() {
        // Nothing fits: the start of the best sentence, cut to the budget.
        text = sentences.first().map_or("", |s| s.text.as_str()).chars().take(max_tokens as usize * 4).collect();
    }
    (text, finish)
}

pub struct OfflineModel;

#[async_trait]
impl ModelProvider for OfflineModel {
    fn name(&self) -> &'static str {
        "offline"
    }

    async fn complete(
        &self,
        prompt: &Prompt,
        params: &Params,
        _repair: Option<&Repair>,
    ) -> Result<Completion, ProviderError> {
        let (answer, finish_reason) = answer(prompt, params.max_tokens);
        let cited = crate::prompt::cited_ids(&answer, &prompt.passages);
        // With a schema, the answer and its citations as one object: the common shape of
        // answer schemas. A schema wanting another shape fails validation (and repair).
        let text = match &params.response_schema {
            Some(_) => json!({"answer": answer, "citations": cited}).to_string(),
            None => answer,
        };
        let usage = Usage {
            input_tokens: estimate_tokens(&prompt.system) + estimate_tokens(&prompt.user),
            output_tokens: estimate_tokens(&text),
        };
        Ok(Completion { text, usage, finish_reason })
    }

    /// Word by word, as a chat UI would receive a real model's answer.
    async fn stream(&self, prompt: &Prompt, params: &Params) -> Result<EventStream, ProviderError> {
        let completion = self.complete(prompt, params, None).await?;
        let mut events: Vec<Result<StreamEvent, ProviderError>> =
            completion.text.split_inclusive(' ').map(|word| Ok(StreamEvent::Delta(word.to_owned()))).collect();
        events.push(Ok(StreamEvent::Finished { usage: completion.usage, finish_reason: completion.finish_reason }));
        Ok(futures::stream::iter(events).boxed())
    }
}

#[cfg(test)]
mod tests {
    use seams_contracts::infer::{ContextItem, ContextPassage, InferenceRequest};

    use super::*;
    use crate::prompt::assemble;

    fn prompt(instructions: &str) -> Prompt {
        prompt_with(
            instructions,
            &[
                ("refunds:1:0", "Digital products can be refunded within 14 days. Refunds go to the original card."),
                ("shipping:1:0", "Parcels ship on weekdays. Shipping is free above 50 euros."),
            ],
        )
    }

    /// The prompt for `instructions` over `(id, text)` passages, in rank order.
    fn prompt_with(instructions: &str, context: &[(&str, &str)]) -> Prompt {
        let mut request: InferenceRequest =
            serde_json::from_value(json!({"request_id": "r", "instructions": instructions})).unwrap();
        request.context = context
            .iter()
            .map(|(id, text)| {
                ContextItem::Passage(ContextPassage { id: (*id).into(), text: (*text).into(), source: None })
            })
            .collect();
        assemble(None, &request, 10_000)
    }

    #[test]
    fn it_quotes_the_sentences_that_answer_and_cites_them() {
        let (text, finish) = answer(&prompt("How many days do I have to get a refund for digital products?"), 200);
        // The second refunds sentence shares only "refund" with the question: under half the best.
        assert_eq!(text, "Digital products can be refunded within 14 days. [refunds:1:0]");
        assert_eq!(finish, FinishReason::Stop);
        let (both, _) = answer(&prompt("refunds to the card, and is shipping free?"), 200);
        assert_eq!(
            both,
            "Refunds go to the original card. [refunds:1:0]\nShipping is free above 50 euros. [shipping:1:0]"
        );
    }

    #[test]
    fn each_part_of_a_compound_question_gets_its_answer() {
        let context = [
            ("refunds:1:0", "Refunds of digital products take 14 days. Digital product refunds take long to reach a card. Digital products are refunded by email, which takes a day."),
            ("shipping:1:0", "Standard shipping is free and takes 3 to 5 business days within the EU, except for remote islands."),
        ];
        let asked = "How long do refunds of digital products take and how long does shipping take?";
        let (text, _) = answer(&prompt_with(asked, &context), 200);
        // Scored as one question, the three refunds sentences take every place.
        assert!(text.contains("[shipping:1:0]"), "{text}");
        assert!(text.starts_with("Refunds of digital products take 14 days."), "{text}");
    }

    #[test]
    fn only_the_question_after_the_workflow_template_counts() {
        let instructions = "Answer the question using only the context, and cite the ids of the passages you use. \
                            Question: when do parcels ship?";
        let (text, _) = answer(&prompt(instructions), 200);
        assert_eq!(text, "Parcels ship on weekdays. [shipping:1:0]");
    }

    #[test]
    fn nothing_found_only_when_no_sentence_shares_a_word() {
        let (text, finish) = answer(&prompt("Which passport photo sizes are accepted?"), 200);
        assert_eq!((text.as_str(), finish), (NOTHING_FOUND, FinishReason::Stop));
    }

    #[test]
    fn at_most_three_sentences_in_plain_text() {
        let context = "# Refund policy\n\n- **Refunds** take 5 days.\n- A refund needs the [receipt](https://x.example/r).\n\n\
                       | Item | Refund window |\n|---|---|\n| Books | 30 days |\n\n> Refund desks close at noon.\n1. Ask for a refund form.";
        let mut request: InferenceRequest =
            serde_json::from_value(json!({"request_id": "r", "instructions": "refund"})).unwrap();
        request.context =
            vec![ContextItem::Passage(ContextPassage { id: "p:1:0".into(), text: context.into(), source: None })];
        let (text, _) = answer(&assemble(None, &request, 10_000), 500);
        // Every sentence has "refund" once: the shortest three win, quoted in document order.
        assert_eq!(text, "A refund needs the receipt. Item; Refund window Ask for a refund form. [p:1:0]");
        assert_eq!(
            sentences(context),
            [
                "Refunds take 5 days.",
                "A refund needs the receipt.",
                "Item; Refund window",
                "Books; 30 days",
                "Refund desks close at noon.",
                "Ask for a refund form."
            ]
        );
    }

    #[test]
    fn it_is_deterministic_and_keeps_within_max_tokens() {
        let p = prompt("refund shipping parcels");
        let (first, _) = answer(&p, 200);
        assert_eq!(first, answer(&p, 200).0);
        let (short, finish) = answer(&p, 20);
        assert!(estimate_tokens(&short) <= 20, "{short}");
        assert_eq!(finish, FinishReason::MaxTokens);
        assert!(short.ends_with(']'), "{short}");
    }

    #[test]
    fn the_passage_with_the_best_sentence_leads_the_answer() {
        let context = [
            ("expenses:1:0", "Submit expenses within 30 days. Alcohol is not reimbursed."),
            (
                "travel:1:0",
                "Hotels are reimbursed up to 220 euros per night in London. Book London hotels early. \
                 Hotels in London are busy in June.",
            ),
        ];
        let (text, _) = answer(&prompt_with("How much is reimbursed for hotels in London?", &context), 200);
        // The expenses passage ranks first, but its sentence only shares "reimbursed".
        assert!(text.starts_with("Hotels are reimbursed up to 220 euros per night in London."), "{text}");
        assert!(text.find("[travel:1:0]") < text.find("[expenses:1:0]"), "{text}");
    }

    #[test]
    fn generic_instructions_take_sentences_in_rank_order() {
        let (text, _) = answer(&prompt("Summarise the following in 3 bullet points."), 30);
        assert!(text.starts_with("Digital products can be refunded within 14 days."), "{text}");
        assert!(!text.contains("Parcels"), "{text}");
    }
}
