//! What the `seams` subcommands do, apart from parsing arguments and printing: ingest files,
//! ask a question through the answer workflow, run any state machine definition.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingest::validate::content_type_for_name;
use ingest::Incoming;
use seams_contracts::ingest::{IngestResponse, IngestStatus};
use seams_contracts::{AttributeValue, Attributes, CorrelationId};
use serde_json::{json, Map, Value};

use crate::asl::{Execution, Runner, Transition, UnsupportedDefinition};
use crate::workflow::{self, LocalTasks};
use crate::LocalStack;

/// What `seams ingest` did with each file.
#[derive(Debug, Default)]
pub struct IngestSummary {
    pub ingested: Vec<(String, IngestResponse)>,
    pub duplicates: Vec<(String, IngestResponse)>,
    pub rejected: Vec<(String, String)>,
    /// Messages process or the indexer failed (they stay on their queue, then go to its DLQ).
    pub failed_downstream: Vec<String>,
}

/// A file to ingest: where it is, its name below the directory argument that found it
/// (which gives its document id), and its category (the name of the directory holding it).
#[derive(Debug, Clone, PartialEq)]
pub struct FileToIngest {
    pub path: PathBuf,
    pub name: PathBuf,
    pub category: Option<String>,
}

/// The files `arguments` name: files as given, directories walked (sorted), glob patterns
/// expanded. A name that matches nothing is rejected with its reason.
pub fn expand(arguments: &[String]) -> (Vec<FileToIngest>, Vec<(String, String)>) {
    let single = |path: PathBuf| FileToIngest { name: path.clone(), category: category_of(&path), path };
    let mut files = Vec::new();
    let mut rejected = Vec::new();
    for argument in arguments {
        let path = Path::new(argument);
        if path.is_dir() {
            walk(path, path, &mut files);
        } else if argument.contains(['*', '?', '[']) {
            match glob::glob(argument) {
                Ok(paths) => {
                    let before = files.len();
                    files.extend(paths.flatten().filter(|p| p.is_file()).map(single));
                    if files.len() == before {
                        rejected.push((argument.clone(), "no file matches".to_owned()));
                    }
                }
                Err(e) => rejected.push((argument.clone(), format!("not a valid pattern: {e}"))),
            }
        } else if path.is_file() {
            files.push(single(path.to_owned()));
        } else {
            rejected.push((argument.clone(), "no such file or directory".to_owned()));
        }
    }
    (files, rejected)
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<FileToIngest>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => return,
    };
    entries.sort();
    for entry in entries {
        let hidden = entry.file_name().is_none_or(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            walk(root, &entry, files);
        } else {
            let name = entry.strip_prefix(root).unwrap_or(&entry).to_owned();
            files.push(FileToIngest { category: category_of(&entry), path: entry, name });
        }
    }
}

fn category_of(path: &Path) -> Option<String> {
    path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned())
}

/// The media type: the extension's, else what the bytes look like.
pub fn content_type(path: &Path, bytes: &[u8]) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy();
    content_type_for_name(&name).or(if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if std::str::from_utf8(bytes).is_ok() {
        Some("text/plain")
    } else {
        None
    })
}

/// A document id from the file's path: its characters that ids allow, the rest as `-`.
pub fn document_id(path: &Path) -> String {
    let text = path.to_string_lossy();
    let id: String = text
        .trim_start_matches("./")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':') { c } else { '-' })
        .collect();
    let id = id.trim_start_matches(['.', '-']);
    id.chars().take(200).collect()
}

/// Ingests every file, then plays the queues until everything is processed and indexed.
/// `progress` is told each file as it is done.
pub async fn ingest_files(
    stack: &LocalStack,
    arguments: &[String],
    progress: impl Fn(usize, usize, &str),
) -> IngestSummary {
    let (files, rejected) = expand(arguments);
    let mut summary = IngestSummary { rejected, ..IngestSummary::default() };
    let service = stack.ingest();
    let correlation = CorrelationId::new(format!("seams-ingest-{}", uuid::Uuid::new_v4().simple()));
    for (done, file) in files.iter().enumerate() {
        let (path, category) = (&file.path, &file.category);
        let shown = path.display().to_string();
        progress(done, files.len(), &shown);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                summary.rejected.push((shown, format!("cannot read: {e}")));
                continue;
            }
        };
        let Some(content_type) = content_type(path, &bytes) else {
            summary.rejected.push((shown, "not a type ingest reads (Markdown, HTML, text, JSON, PDF)".into()));
            continue;
        };
        let mut attributes = Attributes::new();
        attributes.insert("path".into(), AttributeValue::String(shown.clone()));
        if let Some(category) = category {
            attributes.insert("category".into(), AttributeValue::String(category.clone()));
        }
        let incoming = Incoming {
            document_id: Some(document_id(&file.name)),
            source_uri: Some(shown.clone()),
            content_type: content_type.to_owned(),
            bytes,
            attributes,
            tenant: None,
        };
        match service.ingest_bytes(incoming, &correlation).await {
            Ok(response) if response.status == IngestStatus::Duplicate => summary.duplicates.push((shown, response)),
            Ok(response) => summary.ingested.push((shown, response)),
            Err(error) => summary.rejected.push((shown, error.to_string())),
        }
    }
    progress(files.len(), files.len(), "processing and indexing");
    match stack.drain().await {
        Ok(failed) => summary.failed_downstream = failed,
        Err(e) => summary.failed_downstream.push(e.to_string()),
    }
    summary
}

/// `seams ask`'s options: the answer workflow's input, with the reply to the caller.
#[derive(Debug, Clone, Default)]
pub struct Question {
    pub text: String,
    pub filters: Vec<(String, String)>,
    pub search_mode: Option<String>,
    pub top_k: Option<u32>,
    /// Ask for the guardrail on the question and answer (`guardrail: true`).
    pub guardrail: bool,
    /// Continue this conversation (`session_id`).
    pub session_id: Option<String>,
    /// Split a compound question and retrieve for each part (`decompose`); unset, the
    /// stack's default (`SEAMS_DECOMPOSE_QUESTIONS`).
    pub decompose: Option<bool>,
}

impl Question {
    /// How the question searches: its mode, its filters and top_k when set.
    pub fn describe_search(&self) -> String {
        let mode = self.search_mode.as_deref().map_or_else(|| "hybrid (the default)".to_owned(), str::to_owned);
        let mut line = format!("Search: {mode}");
        if let Some(top_k) = self.top_k {
            line.push_str(&format!(", top {top_k}"));
        }
        if self.filters.is_empty() {
            line.push_str(", no filters");
        } else {
            let filters: Vec<String> = self.filters.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
            line.push_str(&format!(", filters {}", filters.join(" and ")));
        }
        line
    }

    pub fn to_input(&self) -> Value {
        let mut input = json!({"question": self.text, "destination": {"type": "http_response"}});
        if !self.filters.is_empty() {
            let filters: Map<String, Value> = self.filters.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            input["filters"] = Value::Object(filters);
        }
        if let Some(mode) = &self.search_mode {
            input["search_mode"] = json!(mode);
        }
        if self.guardrail {
            input["guardrail"] = json!(true);
        }
        if let Some(top_k) = self.top_k {
            input["top_k"] = json!(top_k);
        }
        if let Some(session) = &self.session_id {
            input["session_id"] = json!(session);
        }
        if let Some(decompose) = self.decompose {
            input["decompose"] = json!(decompose);
        }
        input
    }
}

/// Runs a definition's text on `input` against the local stack.
pub async fn run(
    stack: Arc<LocalStack>,
    definition_text: &str,
    input: Value,
    observer: impl Fn(&Transition) + Send + Sync + 'static,
) -> Result<Execution, RunError> {
    let guardrail = stack.settings().infer.guardrail.mode.name();
    let decompose = if stack.settings().decompose_questions { "on" } else { "off" };
    let implicit_filters = if stack.settings().infer.filter_attributes.is_empty() { "off" } else { "on" };
    let configured =
        [("Guardrail", guardrail), ("DecomposeQuestions", decompose), ("ImplicitFilters", implicit_filters)];
    let definition = workflow::definition(definition_text, &configured).map_err(RunError::Definition)?;
    let runner = Runner::new(Arc::new(LocalTasks { stack })).with_observer(observer);
    runner.run(&definition, input).await.map_err(RunError::Unsupported)
}

/// Runs the answer workflow for one question.
pub async fn ask(stack: Arc<LocalStack>, question: &Question) -> Result<Execution, RunError> {
    run(stack, workflow::ANSWER, question.to_input(), |_| {}).await
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Definition(String),
    #[error("{0}")]
    Unsupported(UnsupportedDefinition),
}

/// The chunks a state's task found (Retrieve's results), for showing what an answer used.
pub fn retrieved_chunks(execution: &Execution) -> Vec<Value> {
    execution
        .transitions
        .iter()
        .find_map(|t| match t {
            Transition::TaskSucceeded { state, result } if state == "Retrieve" => {
                result["Payload"]["results"].as_array().cloned()
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// An answer as a person reads it: the text, its sources, the chunks and scores it came
/// from, and the delivery receipt.
pub fn describe_answer(question: &Question, execution: &Execution) -> String {
    let mut out = format!("Q: {}\n{}\n", question.text, question.describe_search());
    match &execution.output {
        Ok(output) => {
            let answer = match &output["answer"] {
                Value::Object(answer) if answer.contains_key("text") => text(&answer["text"]),
                other => other.to_string(),
            };
            out.push_str(&format!("A: {answer}\n"));
            let citations = output["citations"].as_array().cloned().unwrap_or_default();
            if !citations.is_empty() {
                out.push_str("Sources:\n");
                for c in &citations {
                    let title = c["title"].as_str().unwrap_or("(untitled)");
                    out.push_str(&format!(
                        "  [{}] {title} — {} ({})\n",
                        text(&c["id"]),
                        c["source_uri"].as_str().unwrap_or("-"),
                        c["document_id"].as_str().unwrap_or("-")
                    ));
                }
            }
            let chunks = retrieved_chunks(execution);
            if !chunks.is_empty() {
                out.push_str("Chunks:\n");
                for chunk in &chunks {
                    let preview: String = text(&chunk["text"]).split_whitespace().collect::<Vec<_>>().join(" ");
                    let preview: String = preview.chars().take(80).collect();
                    out.push_str(&format!(
                        "  {:.4}  {}  {preview}…\n",
                        chunk["score"].as_f64().unwrap_or_default(),
                        text(&chunk["chunk_id"])
                    ));
                }
            }
            let receipt = &output["delivery"];
            out.push_str(&format!(
                "Delivery: {} to {} after {} attempt(s), request {}\n",
                text(&receipt["status"]),
                text(&receipt["destination"]),
                receipt["attempts"],
                text(&receipt["request_id"])
            ));
            out.push_str(&format!(
                "Session: {} (a follow-up: seams ask --session {} \"…\")\n",
                text(&output["session_id"]),
                text(&output["session_id"])
            ));
        }
        // As `POST /answer` reports it: the step and its function's own message.
        Err(error) => out.push_str(&format!("failed: {}\n", answer::failure(&error.error, &error.cause))),
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_with_categories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::write(dir.path().join("policies/refunds.md"), "# Refunds").unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join(".hidden"), "h").unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        let (files, rejected) = expand(&[root.clone(), format!("{root}/*.txt"), format!("{root}/nothing")]);
        let names: Vec<(String, Option<String>)> =
            files.iter().map(|f| (f.name.display().to_string(), f.category.clone())).collect();
        let glob_name = format!("{root}/a.txt");
        let dir_name = dir.path().file_name().map(|n| n.to_string_lossy().into_owned());
        assert_eq!(
            names,
            [
                ("a.txt".into(), dir_name.clone()),
                ("policies/refunds.md".into(), Some("policies".into())),
                (glob_name, dir_name)
            ]
        );
        assert_eq!(rejected, [(format!("{root}/nothing"), "no such file or directory".to_owned())]);
    }

    #[test]
    fn document_ids_come_from_paths() {
        assert_eq!(
            document_id(Path::new("./examples/docs/policies/Refund Policy.md")),
            "examples-docs-policies-Refund-Policy.md"
        );
        assert_eq!(document_id(Path::new("/tmp/a.pdf")), "tmp-a.pdf");
    }

    #[test]
    fn types_come_from_extensions_then_the_bytes() {
        assert_eq!(content_type(Path::new("a.md"), b""), Some("text/markdown"));
        assert_eq!(content_type(Path::new("scan"), b"%PDF-1.4 ..."), Some("application/pdf"));
        assert_eq!(content_type(Path::new("NOTES"), b"plain words"), Some("text/plain"));
        assert_eq!(content_type(Path::new("blob.bin"), &[0xff, 0xfe, 0x00, 0x81]), None);
    }

    #[test]
    fn questions_become_answer_requests() {
        let question = Question {
            text: "How long?".into(),
            filters: vec![("category".into(), "policies".into())],
            search_mode: Some("keyword".into()),
            top_k: Some(3),
            guardrail: true,
            session_id: Some("s-1".into()),
            decompose: Some(true),
        };
        assert_eq!(
            question.to_input(),
            json!({"question": "How long?", "destination": {"type": "http_response"},
                   "filters": {"category": "policies"}, "search_mode": "keyword", "top_k": 3, "guardrail": true,
                   "session_id": "s-1", "decompose": true})
        );
    }
}
