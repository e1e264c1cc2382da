//! The answer workflow's conversations: a session's turns, kept by answer's function (direct
//! invoke `{"session": SessionStep}`), and the follow-up rewrite infer does from them (direct
//! invoke `{"rewrite": RewriteRequest}`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::infer::InferenceOutput;
use crate::CorrelationId;

/// A session id: what `POST /answer` returns, or what a caller sends back to continue.
/// Letters, digits, `-` and `_`, so it is safe in a storage key.
pub const SESSION_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,128}$";

/// [`SESSION_ID_PATTERN`] in words, for the error that refuses an id.
pub const SESSION_ID_RULE: &str = "a session id is 1 to 128 letters, digits, '-' or '_'";

/// Whether `id` matches [`SESSION_ID_PATTERN`].
pub fn is_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// One question and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// As the caller asked it (masked, where the guardrail masks).
    pub question: String,
    /// As retrieval got it: the question rewritten to stand on its own.
    pub standalone_question: String,
    pub answer: InferenceOutput,
    /// The chunk ids the answer cited.
    #[serde(default)]
    pub cited: Vec<String>,
}

/// What the answer workflow asks of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionStep {
    /// The session's turns, oldest first; `Seams.NotFound` when it is unknown or expired.
    Load {
        #[schemars(pattern(crate::session::SESSION_ID_PATTERN))]
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
    },
    /// Adds a turn. `new` starts the session (its id must be unused); otherwise the session
    /// must exist and be current. Concurrent turns of one session are all kept.
    Record {
        #[schemars(pattern(crate::session::SESSION_ID_PATTERN))]
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        new: bool,
        turn: Turn,
    },
}

/// answer's direct-invoke payload for a session step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInvoke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub session: SessionStep,
}

/// A session step's result: the session's id and its latest turns (after the step), as
/// [`SessionHistory::latest`] cuts them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionHistory {
    pub session_id: String,
    pub turns: Vec<Turn>,
}

/// Turns a history holds, the newest: what a follow-up is rewritten from.
pub const HISTORY_TURNS: usize = 5;
/// Characters a history holds of each text of a turn (the question, the rewritten question,
/// the answer, a structured answer as JSON text).
pub const HISTORY_TEXT_CHARS: usize = 1_000;
/// Cited chunk ids a history holds of each turn.
pub const HISTORY_CITED: usize = 10;

impl SessionHistory {
    /// The part of a session a question carries through the answer workflow. Step Functions
    /// bounds a state at 256 KiB with everything else the question carries (its passages, its
    /// answer); with every turn whole, eight answers of 8,192 tokens passed that, and every
    /// later question of the session failed.
    pub fn latest(session_id: String, turns: &[Turn]) -> Self {
        let latest = &turns[turns.len().saturating_sub(HISTORY_TURNS)..];
        Self { session_id, turns: latest.iter().map(Turn::cut).collect() }
    }
}

impl Turn {
    /// This turn within [`HISTORY_TEXT_CHARS`] and [`HISTORY_CITED`].
    fn cut(&self) -> Turn {
        let cut = |text: &str| text.chars().take(HISTORY_TEXT_CHARS).collect::<String>();
        let answer = match &self.answer {
            InferenceOutput::Text(text) => InferenceOutput::Text(cut(text)),
            InferenceOutput::Json(value) => match value.to_string() {
                json if json.chars().count() <= HISTORY_TEXT_CHARS => InferenceOutput::Json(value.clone()),
                json => InferenceOutput::Text(cut(&json)),
            },
        };
        Turn {
            question: cut(&self.question),
            standalone_question: cut(&self.standalone_question),
            answer,
            cited: self.cited.iter().take(HISTORY_CITED).cloned().collect(),
        }
    }
}

/// A follow-up to rewrite into a question that stands on its own, with the turns before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteRequest {
    pub question: String,
    #[serde(default)]
    pub history: Vec<Turn>,
}

/// infer's direct-invoke payload for a rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteInvoke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
    pub rewrite: RewriteRequest,
}

/// The rewritten question (the question itself when it already stands on its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rewritten {
    pub question: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_key_safe_tokens() {
        for id in ["0b9c3f2e-1d2a-4c39-9f4e-5a6b7c8d9e0f", "a", "A_b-9"] {
            assert!(is_session_id(id), "{id}");
        }
        let long = "a".repeat(129);
        for id in ["", "a/b", "..", "a b", "ü", long.as_str()] {
            assert!(!is_session_id(id), "{id:?}");
        }
    }
}
