//! The offline model: no network, deterministic, extractive. It picks the context
//! sentences that share the most words with the instructions (in rank order when none do),
//! fits them into `max_tokens`, keeps them in document order and cites each passage it
//! quotes. It is labelled as what it is in the response's `model` and `provider`.

use async_trait::async_trait;
use seams_contracts::infer::{FinishReason, Usage};
use serde_json::json;
use unicode_segmentation::UnicodeSegmentation;

use crate::prompt::Prompt;
use crate::provider::{Completion, EventStream, ModelProvider, Params, ProviderError, Repair, StreamEvent};
use futures::StreamExt;

pub const MODEL: &str = "seams-offline-extractive-v1";

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
fn terms(text: &str) -> Vec<String> {
    text.unicode_words()
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") { w[..w.len() - 1].to_owned() } else { w })
        .collect()
}

struct Sentence<'a> {
    passage: usize,
    position: usize,
    text: &'a str,
    score: usize,
}

/// The extractive answer for a prompt, within `max_tokens`.
pub fn answer(prompt: &Prompt, max_tokens: u32) -> (String, FinishReason) {
    let wanted = terms(&prompt.instructions);
    let mut sentences: Vec<Sentence<'_>> = Vec::new();
    for (passage, p) in prompt.passages.iter().enumerate() {
        for (position, text) in p.text.unicode_sentences().map(str::trim).filter(|s| !s.is_empty()).enumerate() {
            let found = terms(text);
            let score = wanted.iter().filter(|w| found.contains(w)).collect::<std::collections::BTreeSet<_>>().len();
            sentences.push(Sentence { passage, position, text, score });
        }
    }
    let any_match = sentences.iter().any(|s| s.score > 0);
    if any_match {
        sentences.retain(|s| s.score > 0);
    }
    // Best first: more shared words, then higher-ranked passage, then earlier sentence.
    sentences.sort_by(|a, b| b.score.cmp(&a.score).then(a.passage.cmp(&b.passage)).then(a.position.cmp(&b.position)));

    let mut chosen: Vec<&Sentence<'_>> = Vec::new();
    let mut budget = max_tokens;
    let mut finish = FinishReason::Stop;
    for sentence in &sentences {
        let id = &prompt.passages[sentence.passage].id;
        let cost = estimate_tokens(sentence.text) + estimate_tokens(id) + 2;
        if cost > budget {
            finish = FinishReason::MaxTokens;
            continue;
        }
        budget -= cost;
        chosen.push(sentence);
    }
    chosen.sort_by_key(|s| (s.passage, s.position));
    let mut text = String::new();
    let mut current: Option<usize> = None;
    for sentence in &chosen {
        if current.is_some_and(|p| p != sentence.passage) {
            let id = &prompt.passages[current.unwrap_or_default()].id;
            text.push_str(&format!(" [{id}]\n"));
        } else if current.is_some() {
            text.push(' ');
        }
        text.push_str(sentence.text);
        current = Some(sentence.passage);
    }
    if let Some(p) = current {
        text.push_str(&format!(" [{}]", prompt.passages[p].id));
    }
    if text.is_empty() {
        text = if prompt.passages.is_empty() {
            "I do not know: no context was given.".to_owned()
        } else {
            // Nothing fits: the start of the best sentence, cut to the budget.
            let first = sentences.first().map_or("", |s| s.text);
            first.chars().take(max_tokens as usize * 4).collect()
        };
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
        let context = vec![
            ContextItem::Passage(ContextPassage {
                id: "refunds:1:0".into(),
                text: "Digital products can be refunded within 14 days. Refunds go to the original card.".into(),
                source: None,
            }),
            ContextItem::Passage(ContextPassage {
                id: "shipping:1:0".into(),
                text: "Parcels ship on weekdays. Shipping is free above 50 euros.".into(),
                source: None,
            }),
        ];
        let mut request: InferenceRequest =
            serde_json::from_value(json!({"request_id": "r", "instructions": instructions})).unwrap();
        request.context = context;
        assemble(None, &request, 10_000)
    }

    #[test]
    fn it_quotes_the_matching_sentences_and_cites_them() {
        let (text, finish) = answer(&prompt("How many days do I have to get a refund for digital products?"), 200);
        assert_eq!(
            text,
            "Digital products can be refunded within 14 days. Refunds go to the original card. [refunds:1:0]"
        );
        assert_eq!(finish, FinishReason::Stop);
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
    fn generic_instructions_take_sentences_in_rank_order() {
        let (text, _) = answer(&prompt("Summarise the following in 3 bullet points."), 30);
        assert!(text.starts_with("Digital products can be refunded within 14 days."), "{text}");
        assert!(!text.contains("Parcels"), "{text}");
    }
}
