//! The Slack message: a caller's template as mrkdwn text, or the built-in Block Kit message
//! (the answer as sections, its sources as context blocks). Every value is escaped
//! (`escape::mrkdwn`), and the built-in message keeps within Block Kit's limits, which Slack
//! enforces by refusing the whole message (`invalid_blocks`, `msg_blocks_too_long`).

use seams_contracts::output::CitedSource;
use serde_json::{json, Value};

use crate::escape;
use crate::format::{self, Answer, TemplateError};

/// A section's text, at most (Block Kit).
pub const SECTION_CHARS: usize = 3_000;
/// Elements in one context block, at most (Block Kit).
pub const CONTEXT_ELEMENTS: usize = 10;
/// Blocks in one message, at most (Block Kit).
pub const MAX_BLOCKS: usize = 50;
/// Characters across a message's blocks: Slack refuses messages whose blocks hold more than
/// about 13,000 (`msg_blocks_too_long`, a limit it does not document exactly).
pub const BLOCKS_CHARS: usize = 12_000;
/// A message's `text`: Slack shows this much.
pub const TEXT_CHARS: usize = 40_000;
/// The built-in message's text for an answer of blanks: Slack refuses a message or a section
/// with nothing in it (`no_text`, `invalid_blocks`), and the delivery would fail.
pub const NO_ANSWER: &str = "_The answer was empty._";

/// Slack's payload: the caller's template rendered as the message text, or the built-in
/// Block Kit message.
pub fn message(template: Option<&str>, answer: &Answer) -> Result<Value, TemplateError> {
    match template {
        Some(template) => {
            let text = format::render_mrkdwn(template, answer)?;
            if text.trim().is_empty() {
                let refused = "the template rendered no text for this answer; Slack refuses an empty message";
                return Err(TemplateError(refused.into()));
            }
            Ok(json!({"text": cut(text.trim())}))
        }
        None => Ok(built_in(answer)),
    }
}

/// The answer in sections and its sources in context blocks; an answer too long for blocks
/// goes as the message's text with its sources after it.
fn built_in(answer: &Answer) -> Value {
    let text = match answer.answer.trim() {
        "" => NO_ANSWER.to_owned(),
        said => escape::mrkdwn(said),
    };
    let sources: Vec<String> = answer.citations.iter().map(source).collect();
    // A long run of blanks can fill a whole piece: it would show nothing, and Block Kit
    // asks for a section's text to hold something.
    let sections: Vec<&str> = pieces(&text, SECTION_CHARS).into_iter().filter(|p| !p.trim().is_empty()).collect();
    let contexts: Vec<&[String]> = sources.chunks(CONTEXT_ELEMENTS).collect();
    let chars = text.chars().count() + sources.iter().map(|s| s.chars().count()).sum::<usize>();
    let fits = sections.len() + contexts.len() <= MAX_BLOCKS
        && chars <= BLOCKS_CHARS
        && sources.iter().all(|s| s.chars().count() <= SECTION_CHARS);
    if !fits {
        let whole = [text.as_str(), &sources.join("\n")].join("\n\n");
        return json!({"text": cut(whole.trim())});
    }
    let sections =
        sections.into_iter().map(|piece| json!({"type": "section", "text": {"type": "mrkdwn", "text": piece}}));
    let contexts = contexts.into_iter().map(|group| {
        let elements: Vec<Value> = group.iter().map(|s| json!({"type": "mrkdwn", "text": s})).collect();
        json!({"type": "context", "elements": elements})
    });
    json!({"text": text, "blocks": sections.chain(contexts).collect::<Vec<_>>()})
}

/// A source as mrkdwn: a link to its web address labelled by its title (or id), else its id
/// in code, its title and its URI as text.
fn source(cited: &CitedSource) -> String {
    let title = cited.title.as_deref();
    match cited.source_uri.as_deref() {
        Some(uri) if escape::is_web_link(uri) => {
            format!("<{}|{}>", escape::mrkdwn(uri), escape::mrkdwn(title.unwrap_or(&cited.id)))
        }
        uri => {
            let mut line = format!("`{}`", escape::mrkdwn(&cited.id));
            for (separator, part) in [(" ", title), (" — ", uri)] {
                if let Some(part) = part {
                    line.push_str(separator);
                    line.push_str(&escape::mrkdwn(part));
                }
            }
            line
        }
    }
}

/// `text` (escaped) cut to [`TEXT_CHARS`], marked where it was cut.
fn cut(text: &str) -> String {
    match pieces(text, TEXT_CHARS).as_slice() {
        [whole] => (*whole).to_owned(),
        [first, ..] => format!("{first}… (cut at {TEXT_CHARS} characters)"),
        [] => String::new(),
    }
}

/// `text` (escaped) in pieces of at most `max` characters that join back to it: each ends
/// after a line break or a space in its second half where there is one, and never inside
/// an entity (`&amp;`), so Slack shows each piece as the text it holds.
pub fn pieces(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some((limit, _)) = rest.char_indices().nth(max) else {
            out.push(rest);
            break;
        };
        let window = &rest[..limit];
        let at_space = window.rfind('\n').or_else(|| window.rfind(' ')).map(|i| i + 1).filter(|&i| i > limit / 2);
        let at_entity = window.rfind('&').filter(|&i| i > 0 && !window[i..].contains(';'));
        let end = at_space.or(at_entity).unwrap_or(limit);
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests;
