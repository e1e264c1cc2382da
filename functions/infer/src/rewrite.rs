//! Follow-up questions made to stand on their own, so retrieval can answer "and for digital
//! ones?" without the conversation. A model provider rewrites from the turns before; the
//! offline model carries the previous question's key terms into a question that looks like a
//! follow-up. Either way the caller's question is never lost: an empty rewrite is the question.

use std::collections::HashSet;

use seams_contracts::session::{Turn, HISTORY_TURNS};
use unicode_segmentation::UnicodeSegmentation;

use crate::offline;
use crate::prompt::Prompt;

/// How the model is asked to rewrite.
pub const RULES: &str = "You rewrite the last question of a conversation so that it can be understood \
without the conversation. Resolve what it refers to (pronouns, \"and for …?\", \"what about …?\") from \
the earlier turns. Keep its meaning and language; add nothing the conversation does not say. \
If it already stands on its own, repeat it unchanged. Reply with the question only.";

/// An answer is cut to this many characters in the rewrite prompt.
const ANSWER_CHARS: usize = 600;
/// The previous question's terms the offline rewrite carries, at most.
const CARRIED_TERMS: usize = 8;

/// Words that open a question continuing the one before.
const CONTINUATIONS: &[&str] = &["and", "also", "but", "or", "so", "then", "what about", "how about", "what if"];
/// Words that point back at something said before.
const REFERENCES: &[&str] =
    &["it", "its", "they", "them", "their", "those", "these", "that", "this", "ones", "one", "there", "same"];

/// Whether `question` reads as a follow-up: it opens as a continuation, points back at
/// something, or says too little on its own (two content words or fewer).
pub fn is_follow_up(question: &str) -> bool {
    let lowered = question.trim().to_lowercase();
    let words: Vec<&str> = lowered.unicode_words().collect();
    let continues = CONTINUATIONS.iter().any(|opening| {
        let opening: Vec<&str> = opening.split(' ').collect();
        words.starts_with(&opening)
    });
    continues || words.iter().any(|w| REFERENCES.contains(w)) || offline::terms(question).len() <= 2
}

/// The offline rewrite: a follow-up with the previous question's key terms it lacks
/// appended; any other question as asked.
pub fn carry_terms(question: &str, history: &[Turn]) -> String {
    let Some(previous) = history.last() else { return question.to_owned() };
    if !is_follow_up(question) {
        return question.to_owned();
    }
    // A set: questions are a caller's text, and searching a list for each term of the other
    // question took 5 s for two of 50,000 words.
    let own: HashSet<String> = offline::terms(question).into_iter().collect();
    let mut carried: Vec<String> = Vec::new();
    for term in offline::terms(&previous.standalone_question) {
        if carried.len() == CARRIED_TERMS {
            break;
        }
        if !own.contains(&term) && !carried.contains(&term) {
            carried.push(term);
        }
    }
    if carried.is_empty() {
        return question.to_owned();
    }
    format!("{} ({})", question.trim(), carried.join(" "))
}

/// The prompt a model provider rewrites from: the latest turns, then the question.
pub fn prompt(question: &str, history: &[Turn]) -> Prompt {
    let shown = &history[history.len().saturating_sub(HISTORY_TURNS)..];
    let mut user = String::from("<conversation>\n");
    for turn in shown {
        let answer = match &turn.answer {
            seams_contracts::infer::InferenceOutput::Text(text) => text.clone(),
            seams_contracts::infer::InferenceOutput::Json(value) => value.to_string(),
        };
        let answer: String = answer.chars().take(ANSWER_CHARS).collect();
        user.push_str(&format!("Question: {}\nAnswer: {}\n", turn.standalone_question, answer));
    }
    user.push_str(&format!("</conversation>\n<question>{question}</question>"));
    Prompt {
        system: RULES.to_owned(),
        user,
        passages: Vec::new(),
        truncated: Vec::new(),
        instructions: question.to_owned(),
    }
}

/// The model's reply as a question: its first non-empty line, or the question if it has none.
pub fn from_reply(reply: &str, question: &str) -> String {
    reply
        .lines()
        .map(|line| line.trim().trim_matches('"').trim())
        .find(|line| !line.is_empty())
        .map_or_else(|| question.to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use seams_contracts::infer::InferenceOutput;

    use super::*;

    fn turn(standalone: &str) -> Turn {
        Turn {
            question: standalone.into(),
            standalone_question: standalone.into(),
            answer: InferenceOutput::Text("Refunds take 30 days.".into()),
            cited: vec![],
        }
    }

    #[test]
    fn follow_ups_are_told_from_questions_that_stand_alone() {
        for question in ["And for digital ones?", "What about express?", "Can they be tracked?", "Why?", "Cost?"] {
            assert!(is_follow_up(question), "{question}");
        }
        for question in ["How long do card refunds take to appear?", "When are deployments not allowed?"] {
            assert!(!is_follow_up(question), "{question}");
        }
    }

    #[test]
    fn a_follow_up_carries_the_previous_questions_terms_it_lacks() {
        let history = [turn("What is the refund window for physical products?")];
        assert_eq!(
            carry_terms("And for digital ones?", &history),
            "And for digital ones? (refund window physical product)"
        );
        let standalone = "How long do card refunds take to appear?";
        assert_eq!(carry_terms(standalone, &history), standalone, "a question that stands alone is kept");
        assert_eq!(carry_terms("And for digital ones?", &[]), "And for digital ones?", "no history, no rewrite");
    }

    #[test]
    fn the_prompt_shows_the_latest_turns_and_the_question_apart() {
        let history: Vec<Turn> = (0..8).map(|i| turn(&format!("question {i}"))).collect();
        let prompt = prompt("and the next?", &history);
        assert!(!prompt.user.contains("question 2") && prompt.user.contains("question 3"), "{}", prompt.user);
        assert!(prompt.user.ends_with("<question>and the next?</question>"));
        assert_eq!(prompt.system, RULES);
    }

    #[test]
    fn an_empty_reply_keeps_the_question() {
        assert_eq!(
            from_reply("\n \"What is the refund window for digital products?\"\n", "q"),
            "What is the refund window for digital products?"
        );
        assert_eq!(from_reply("  \n", "and digital?"), "and digital?");
    }
}
