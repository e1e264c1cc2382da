//! The MCP server: seams' search, answers and documents as tools, on rmcp. Transports are
//! the caller's choice (stdio in `seams mcp`, streamable HTTP at `/mcp`); this is only what
//! each tool does.

use std::collections::BTreeMap;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use seams_contracts::answer::AnswerRequest;
use seams_contracts::infer::InferenceOutput;
use seams_contracts::ingest::{DocumentList, DocumentStatus, IngestDocumentRequest, IngestResponse};
use seams_contracts::output::{CitedSource, Destination};
use seams_contracts::retrieve::{Citation, Filter, RetrieveRequest, RetrieveResponse, SearchMode, DEFAULT_TOP_K};
use seams_contracts::{AttributeValue, Attributes, Problem, V1};
use serde::{Deserialize, Serialize};

use crate::api::{Caller, Seams};

/// The tool that writes; listed only when the operator enables write tools.
pub const INGEST_TOOL: &str = "ingest_document";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// What to look for, in the user's words.
    pub query: String,
    /// How many passages (1 to 100; default 5).
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Only passages whose document attributes match: `{"category": "policy"}` (equality on
    /// every key) or a Bedrock Knowledge Bases `RetrievalFilter` such as
    /// `{"andAll": [{"equals": {"key": "category", "value": "policy"}}, {"greaterThan": {"key": "year", "value": 2023}}]}`.
    #[serde(default)]
    pub filters: Option<Filter>,
    /// `hybrid` (default), `vector` or `keyword`.
    #[serde(default)]
    pub search_mode: Option<SearchMode>,
    /// Reorder the first candidates with the deployment's reranking model.
    #[serde(default)]
    pub rerank: Option<bool>,
    /// Leave out passages scoring below this.
    #[serde(default)]
    pub min_score: Option<f64>,
}

/// One passage, numbered as the text content numbers it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Passage {
    pub rank: u32,
    pub document_id: String,
    pub version: u32,
    pub chunk_id: String,
    pub text: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank_score: Option<f64>,
    pub citation: Citation,
    pub metadata: BTreeMap<String, AttributeValue>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOutput {
    pub passages: Vec<Passage>,
    pub search_mode: SearchMode,
    pub embedding_model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank_model: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub question: String,
    /// As `search`'s `filters`.
    #[serde(default)]
    pub filters: Option<Filter>,
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub search_mode: Option<SearchMode>,
    #[serde(default)]
    pub rerank: Option<bool>,
    /// Extra instructions to the model (tone, format, length).
    #[serde(default)]
    pub instructions: Option<String>,
    /// Split a compound question into sub-questions, retrieve for each and answer once.
    #[serde(default)]
    pub decompose: Option<bool>,
    /// Continue this conversation (an earlier answer's `session_id`): the question may be a
    /// follow-up.
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AnswerOutput {
    pub answer: InferenceOutput,
    /// Send it with the next question to ask a follow-up.
    pub session_id: String,
    /// The sources the answer cites; `[n]` in the text is the n-th.
    pub citations: Vec<CitedSource>,
    pub model: String,
    pub request_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDocumentInput {
    pub document_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDocumentsInput {
    /// Continue after this document id (the previous page's `next_after`).
    #[serde(default)]
    pub after: Option<String>,
    /// 1 to 1000; default 100.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestInput {
    /// The document's text.
    pub content: String,
    /// `text/plain` (default), `text/markdown`, `text/html` or `application/json`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// A stable id; ingesting again under it makes a new version.
    #[serde(default)]
    pub document_id: Option<String>,
    #[serde(default)]
    pub source_uri: Option<String>,
    /// Attributes that filters match (`category`, `title`, …).
    #[serde(default)]
    pub attributes: Option<Attributes>,
}

/// What an MCP client talks to: one per connection (stdio) or per request (HTTP, stateless).
#[derive(Clone)]
pub struct SeamsMcp {
    seams: Seams,
    /// Used when the request carries no caller of its own (stdio).
    caller: Caller,
    tool_router: ToolRouter<Self>,
}

impl SeamsMcp {
    pub fn new(seams: Seams, caller: Caller, write_tools: bool) -> Self {
        let mut tool_router = Self::tool_router();
        if !write_tools {
            tool_router.remove_route(INGEST_TOOL);
        }
        Self { seams, caller, tool_router }
    }

    /// The caller of this request: the one the HTTP layer attached, else the server's own.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Caller {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .unwrap_or_else(|| self.caller.clone())
    }
}

/// A problem as a tool error: the detail as text (what a model reads), the problem as
/// structured content (what a program reads).
fn tool_error(problem: Problem) -> CallToolResult {
    let mut result = CallToolResult::structured_error(serde_json::to_value(&problem).unwrap_or_default());
    let field = problem.field.as_deref().map(|field| format!("{field}: ")).unwrap_or_default();
    result.content = vec![ContentBlock::text(format!("{}: {field}{}", problem.error.as_str(), problem.detail))];
    result
}

/// `value` as structured content, with `text` as the text content for models.
fn tool_success(text: String, value: &impl Serialize) -> CallToolResult {
    let mut result = CallToolResult::structured(serde_json::to_value(value).unwrap_or_default());
    result.content = vec![ContentBlock::text(text)];
    result
}

fn reply<T: Serialize>(outcome: Result<T, Problem>, text: impl FnOnce(&T) -> String) -> CallToolResult {
    match outcome {
        Ok(value) => tool_success(text(&value), &value),
        Err(problem) => tool_error(problem),
    }
}

/// `[n] title (source): text`, one per passage, for a model to quote and cite.
pub fn passages_text(passages: &[Passage]) -> String {
    if passages.is_empty() {
        return "No passage matched.".to_owned();
    }
    passages
        .iter()
        .map(|p| {
            let title = p.citation.title.as_deref().unwrap_or(&p.document_id);
            let source = p.citation.source_uri.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            format!("[{}] {title}{source}\n{}", p.rank, p.text.trim())
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub fn search_output(response: RetrieveResponse) -> SearchOutput {
    let passages = (1..)
        .zip(response.results)
        .map(|(rank, chunk)| Passage {
            rank,
            document_id: chunk.document_id,
            version: chunk.version,
            chunk_id: chunk.chunk_id,
            text: chunk.text,
            score: chunk.score,
            rerank_score: chunk.rerank_score,
            citation: chunk.citation,
            metadata: chunk.metadata,
        })
        .collect();
    SearchOutput {
        passages,
        search_mode: response.search_mode,
        embedding_model: response.embedding_model,
        rerank_model: response.rerank_model,
    }
}

/// The answer's text, as the model wrote it (JSON answers as JSON text).
pub fn answer_text(answer: &InferenceOutput) -> String {
    match answer {
        InferenceOutput::Text(text) => text.clone(),
        InferenceOutput::Json(value) => value.to_string(),
    }
}

/// The answer with each `[citation id]` the model wrote as `[n]`, the number its source has
/// in [`sources_text`], then those sources.
pub fn answer_with_sources(answer: &InferenceOutput, citations: &[CitedSource]) -> String {
    let mut text = answer_text(answer);
    for (n, source) in (1..).zip(citations) {
        text = text.replace(&format!("[{}]", source.id), &format!("[{n}]"));
    }
    if citations.is_empty() {
        text
    } else {
        format!("{text}\n\nSources:\n{}", sources_text(citations))
    }
}

/// `[n] title (source)` for each cited source.
pub fn sources_text(citations: &[CitedSource]) -> String {
    (1..)
        .zip(citations)
        .map(|(n, source)| {
            let title = source.title.as_deref().or(source.document_id.as_deref()).unwrap_or(&source.id);
            let uri = source.source_uri.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            format!("[{n}] {title}{uri}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tool_router]
impl SeamsMcp {
    /// Searches the knowledge base and answers the best passages, each with where it came from.
    #[tool(annotations(read_only_hint = true), output_schema = schema_for_output::<SearchOutput>())]
    async fn search(
        &self,
        Parameters(input): Parameters<SearchInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = RetrieveRequest {
            schema_version: V1,
            query: input.query,
            top_k: input.top_k.unwrap_or(DEFAULT_TOP_K),
            filters: input.filters,
            search_mode: input.search_mode.unwrap_or_default(),
            min_score: input.min_score,
            include_embeddings: false,
            rerank: input.rerank,
            correlation_id: None,
            // The route decides from the caller's token.
            tenant: None,
            max_bytes: None,
        };
        let outcome = self.seams.retrieve(&self.caller(&context), &request).await.map(search_output);
        Ok(reply(outcome, |output| passages_text(&output.passages)))
    }

    /// Answers a question from the knowledge base, citing its sources.
    #[tool(annotations(read_only_hint = true), output_schema = schema_for_output::<AnswerOutput>())]
    async fn answer(
        &self,
        Parameters(input): Parameters<AnswerInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = AnswerRequest {
            schema_version: V1,
            request_id: None,
            correlation_id: None,
            question: input.question,
            session_id: input.session_id,
            filters: input.filters,
            top_k: input.top_k,
            search_mode: input.search_mode,
            rerank: input.rerank,
            decompose: input.decompose,
            instructions: input.instructions,
            // The deployment's guardrail applies (SEAMS_GUARDRAIL).
            guardrail: None,
            destination: Destination::HttpResponse,
            // The route decides from the caller's token.
            tenant: None,
        };
        let outcome = self.seams.answer(&self.caller(&context), &request).await.map(|response| AnswerOutput {
            answer: response.answer,
            session_id: response.session_id,
            citations: response.citations,
            model: response.model,
            request_id: response.request_id,
        });
        Ok(reply(outcome, |output| answer_with_sources(&output.answer, &output.citations)))
    }

    /// A document's stored versions and whether it is deleted.
    #[tool(annotations(read_only_hint = true), output_schema = schema_for_output::<DocumentStatus>())]
    async fn get_document(
        &self,
        Parameters(input): Parameters<GetDocumentInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = self.seams.document(&self.caller(&context), &input.document_id).await;
        Ok(reply(outcome, |status| {
            let latest = status.versions.last();
            let source = latest.and_then(|v| v.source_uri.as_deref()).unwrap_or("no source uri");
            format!(
                "{}: {} version(s), latest {} ({source}){}",
                status.document_id,
                status.versions.len(),
                latest.map_or(0, |v| v.version),
                if status.deleted { ", deleted" } else { "" }
            )
        }))
    }

    /// The documents in the knowledge base, a page at a time: ids, titles, versions, attributes.
    #[tool(annotations(read_only_hint = true), output_schema = schema_for_output::<DocumentList>())]
    async fn list_documents(
        &self,
        Parameters(input): Parameters<ListDocumentsInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = self.seams.documents(&self.caller(&context), input.after.as_deref(), input.limit).await;
        Ok(reply(outcome, |list| {
            let mut lines: Vec<String> = list
                .documents
                .iter()
                .map(|d| {
                    let title = d.title.as_deref().map(|t| format!(" \"{t}\"")).unwrap_or_default();
                    let deleted = if d.deleted { " (deleted)" } else { "" };
                    format!("{}{title} v{}{deleted}", d.document_id, d.latest_version)
                })
                .collect();
            if let Some(after) = &list.next_after {
                lines.push(format!("More: call again with after = {after:?}."));
            }
            if lines.is_empty() {
                "No documents.".to_owned()
            } else {
                lines.join("\n")
            }
        }))
    }

    /// Adds a document (or a new version of one) to the knowledge base; it becomes
    /// searchable once processed and indexed.
    #[tool(name = "ingest_document", output_schema = schema_for_output::<IngestResponse>())]
    async fn ingest_document(
        &self,
        Parameters(input): Parameters<IngestInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = IngestDocumentRequest {
            schema_version: V1,
            document_id: input.document_id,
            source_uri: input.source_uri,
            content_type: input.content_type.unwrap_or_else(|| "text/plain".to_owned()),
            content: Some(input.content),
            content_base64: None,
            attributes: input.attributes.unwrap_or_default(),
        };
        let outcome = self.seams.ingest(&self.caller(&context), &request).await;
        Ok(reply(outcome, |response| {
            let what = if response.duplicate { "already stored as" } else { "queued as" };
            format!("{what} {} version {}", response.document_id, response.version)
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SeamsMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("seams", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "seams is a knowledge base. `search` finds passages with their sources; `answer` \
                 answers a question from them with citations; `list_documents` and `get_document` \
                 show what it holds.",
            )
    }
}
