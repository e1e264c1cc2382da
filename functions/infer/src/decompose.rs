//! Compound questions split into the questions they ask, so each part is retrieved for on its
//! own ("What is the refund window for digital products and how long does standard shipping
//! take?" asks two things two documents answer). A model provider splits with a short
//! prompt; offline, the question is split where a new question starts.

use unicode_segmentation::UnicodeSegmentation;

use crate::prompt::Prompt;

/// `SEAMS_MAX_SUB_QUESTIONS` at most. The answer workflow holds every part's results (16 KiB
/// each) and their merge in one Step Functions state of 256 KiB, beside the question, the
/// session and an answer of up to 8,192 tokens: four parts leave room for all of it.
pub const MOST_SUB_QUESTIONS: usize = 4;

/// How the model is asked to split.
pub fn rules(max_questions: usize) -> String {
    format!(
        "You split a question that asks several things into at most {max_questions} questions that each \
         ask one thing and stand on their own. Reply with one question per line and nothing else. \
         If the question asks one thing, reply with it unchanged."
    )
}

/// Words that open a question: a clause after "and" that starts with one is a new question.
const OPENINGS: &[&str] = &[
    "how", "what", "when", "where", "which", "who", "whom", "whose", "why", "can", "could", "do", "does", "did", "is",
    "are", "was", "were", "will", "would", "should", "may", "must", "has", "have",
];

/// The offline split, at most `max_questions` parts: at a question mark followed by more
/// text, at `;`, and at "and"/"also" (or ", and") followed by a word that opens a question.
/// A question that asks one thing is one part, itself.
pub fn split(question: &str, max_questions: usize) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for sentence in question.split_inclusive(['?', ';']) {
        let words: Vec<(usize, &str)> = sentence.unicode_word_indices().collect();
        let mut start = 0;
        for pair in words.windows(2) {
            let ((at, joiner), (_, next)) = (pair[0], pair[1]);
            let joins = matches!(joiner.to_lowercase().as_str(), "and" | "also");
            if joins && OPENINGS.contains(&next.to_lowercase().as_str()) && at > start {
                parts.push(sentence[start..at].to_owned());
                start = at + joiner.len();
            }
        }
        parts.push(sentence[start..].to_owned());
    }
    let mut questions: Vec<String> = parts.iter().map(|part| tidy(part)).filter(|q| !q.is_empty()).collect();
    if questions.len() <= 1 {
        return vec![question.trim().to_owned()];
    }
    // The parts beyond the last allowed one stay with it, so nothing asked is dropped.
    if questions.len() > max_questions.max(1) {
        let rest = questions.split_off(max_questions.max(1) - 1).join(" ");
        questions.push(rest);
    }
    questions
}

/// A part as a question: without the joining punctuation, ending in `?`, capitalised.
fn tidy(part: &str) -> String {
    let trimmed = part.trim().trim_end_matches([';', ',', '?']).trim().trim_start_matches(',').trim();
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => format!("{}{}?", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// The prompt a model provider splits from.
pub fn prompt(question: &str, max_questions: usize) -> Prompt {
    Prompt {
        system: rules(max_questions),
        user: format!("<question>{question}</question>"),
        passages: Vec::new(),
        truncated: Vec::new(),
        instructions: question.to_owned(),
    }
}

/// The model's reply as questions: its non-empty lines without list markers, at most
/// `max_questions`; the question itself if the reply has none.
pub fn from_reply(reply: &str, question: &str, max_questions: usize) -> Vec<String> {
    let questions: Vec<String> = reply
        .lines()
        .map(|line| line.trim().trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '.' | ')' | '-' | '*')))
        .map(|line| line.trim().trim_matches('"').trim().to_owned())
        .filter(|line| !line.is_empty())
        .take(max_questions.max(1))
        .collect();
    if questions.is_empty() {
        vec![question.trim().to_owned()]
    } else {
        questions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compound_question_is_split_where_a_new_question_starts() {
        let asked = "What is the refund window for digital products and how long does standard shipping take?";
        assert_eq!(
            split(asked, 4),
            ["What is the refund window for digital products?", "How long does standard shipping take?"]
        );
        assert_eq!(
            split("When are deployments frozen? Who approves an exception; and can it be appealed", 4),
            ["When are deployments frozen?", "Who approves an exception?", "Can it be appealed?"]
        );
    }

    #[test]
    fn a_question_that_asks_one_thing_is_kept_whole() {
        for one in ["How long do refunds and exchanges take?", "Can tents and stoves be returned?", "Refunds?"] {
            assert_eq!(split(one, 4), [one], "{one}");
        }
    }

    #[test]
    fn parts_beyond_the_limit_stay_with_the_last_one() {
        let asked = "What is A? What is B? What is C?";
        assert_eq!(split(asked, 2), ["What is A?", "What is B? What is C?"]);
        assert_eq!(split(asked, 1), ["What is A? What is B? What is C?"]);
    }

    #[test]
    fn a_models_reply_is_read_as_one_question_a_line() {
        let reply = "1. What is the refund window for digital products?\n\n2) How long does shipping take?\n";
        assert_eq!(
            from_reply(reply, "q", 4),
            ["What is the refund window for digital products?", "How long does shipping take?"]
        );
        assert_eq!(from_reply("a\nb\nc", "q", 2), ["a", "b"]);
        assert_eq!(from_reply("  \n", "the question", 4), ["the question"]);
    }
}
