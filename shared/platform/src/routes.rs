//! The HTTP API's routes and the bus rule that feeds retrieve's indexer: written once here,
//! read by the functions (`from_http`), the local server and runner, and a test that holds
//! template.yaml to them (`tests/tests/template.rs`).

use std::collections::HashMap;

use seams_contracts::events::{BusEvent, SOURCE_INGEST, SOURCE_PROCESS};
use seams_contracts::ingest::DocumentDeleted;
use seams_contracts::process::DocumentProcessed;

use crate::event_bus::EventPattern;

// Route keys as API Gateway reports them (`routeKey`); constants so that services match on them.
pub const POST_DOCUMENTS: &str = "POST /documents";
pub const POST_DOCUMENTS_BATCH: &str = "POST /documents:batch";
pub const POST_UPLOADS: &str = "POST /documents/uploads";
pub const GET_DOCUMENTS: &str = "GET /documents";
pub const GET_DOCUMENT: &str = "GET /documents/{id}";
pub const DELETE_DOCUMENT: &str = "DELETE /documents/{id}";
pub const POST_RETRIEVE: &str = "POST /retrieve";
pub const POST_INFERENCE: &str = "POST /inference";
pub const POST_ANSWER: &str = "POST /answer";
// The agent protocols (functions/gateway): MCP's streamable HTTP and OpenAI's chat API.
pub const POST_MCP: &str = "POST /mcp";
pub const GET_MCP: &str = "GET /mcp";
pub const DELETE_MCP: &str = "DELETE /mcp";
pub const POST_CHAT_COMPLETIONS: &str = "POST /v1/chat/completions";
pub const GET_MODELS: &str = "GET /v1/models";

/// One route of the HTTP API and the function (its Lambda binary name) that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `METHOD /path`, with `{name}` for a path parameter.
    pub key: &'static str,
    pub function: &'static str,
}

/// Every route of the HTTP API.
pub const ROUTES: [Route; 14] = [
    Route { key: POST_DOCUMENTS, function: "ingest" },
    Route { key: POST_DOCUMENTS_BATCH, function: "ingest" },
    Route { key: POST_UPLOADS, function: "ingest" },
    Route { key: GET_DOCUMENTS, function: "ingest" },
    Route { key: GET_DOCUMENT, function: "ingest" },
    Route { key: DELETE_DOCUMENT, function: "ingest" },
    Route { key: POST_RETRIEVE, function: "retrieve" },
    Route { key: POST_INFERENCE, function: "infer" },
    Route { key: POST_ANSWER, function: "answer" },
    Route { key: POST_MCP, function: "gateway" },
    Route { key: GET_MCP, function: "gateway" },
    Route { key: DELETE_MCP, function: "gateway" },
    Route { key: POST_CHAT_COMPLETIONS, function: "gateway" },
    Route { key: GET_MODELS, function: "gateway" },
];

impl Route {
    pub fn method(&self) -> &'static str {
        self.key.split_once(' ').map_or(self.key, |(method, _)| method)
    }

    pub fn path(&self) -> &'static str {
        self.key.split_once(' ').map_or("", |(_, path)| path)
    }

    /// The path parameters when `method` and `path` match this route, as API Gateway
    /// matches them: a `{name}` segment takes one non-empty segment.
    pub fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if method != self.method() {
            return None;
        }
        self.match_path(path)
    }

    /// `path`'s parameters if it has this route's shape, whatever the method.
    fn match_path(&self, path: &str) -> Option<HashMap<String, String>> {
        let (template, actual): (Vec<&str>, Vec<&str>) = (self.path().split('/').collect(), path.split('/').collect());
        if template.len() != actual.len() {
            return None;
        }
        let mut parameters = HashMap::new();
        for (expected, segment) in template.iter().zip(&actual) {
            match expected.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
                // Decoded, as API Gateway's HTTP API hands them over: `a%3Ab` is the id `a:b`.
                Some(name) if !segment.is_empty() => {
                    let value = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
                    parameters.insert(name.to_owned(), value.into_owned());
                }
                Some(_) => return None,
                None if expected == segment => {}
                None => return None,
            }
        }
        Some(parameters)
    }
}

/// The route a request matches, with its path parameters.
pub fn find(method: &str, path: &str) -> Option<(Route, HashMap<String, String>)> {
    ROUTES.iter().find_map(|route| route.matches(method, path).map(|parameters| (*route, parameters)))
}

/// The methods some route serves `path` with: what a `405 Method Not Allowed` lists in
/// `Allow`. Empty when no route has that path.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    ROUTES.iter().filter(|route| route.match_path(path).is_some()).map(Route::method).collect()
}

/// The bus rule that sends processed and deleted documents to retrieve's indexer queue.
pub fn indexer_rule() -> EventPattern {
    EventPattern {
        source: vec![SOURCE_INGEST.to_owned(), SOURCE_PROCESS.to_owned()],
        detail_type: vec![DocumentProcessed::DETAIL_TYPE.to_owned(), DocumentDeleted::DETAIL_TYPE.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_find_their_route_and_parameters() {
        let (route, parameters) = find("DELETE", "/documents/refund-policy").unwrap();
        assert_eq!((route.key, route.function), (DELETE_DOCUMENT, "ingest"));
        assert_eq!(parameters["id"], "refund-policy");
        assert_eq!(find("POST", "/documents:batch").unwrap().0.key, POST_DOCUMENTS_BATCH);
        assert_eq!(find("POST", "/answer").unwrap().0.function, "answer");
        assert!(find("GET", "/retrieve").is_none(), "the method must match");
        assert_eq!(allowed_methods("/retrieve"), ["POST"]);
        assert_eq!(allowed_methods("/documents/refund-policy"), ["GET", "DELETE"]);
        assert_eq!(allowed_methods("/nowhere"), Vec::<&str>::new());
        assert_eq!(find("GET", "/documents/a%3Ab%20c").unwrap().1["id"], "a:b c", "parameters are decoded");
        assert!(find("GET", "/documents/").is_none(), "a parameter is never empty");
        assert!(find("GET", "/documents/a/b").is_none(), "a parameter is one segment");
    }

    #[test]
    fn the_indexer_rule_takes_what_ingest_and_process_announce() {
        let rule = indexer_rule();
        let event = |source: &str, detail_type: &str| crate::event_bus::OutgoingEvent {
            source: source.into(),
            detail_type: detail_type.into(),
            detail: serde_json::json!({}),
        };
        assert!(rule.matches(&event(SOURCE_PROCESS, DocumentProcessed::DETAIL_TYPE)));
        assert!(rule.matches(&event(SOURCE_INGEST, DocumentDeleted::DETAIL_TYPE)));
        // An upstream system's deletion request goes to ingest first, never straight to the index.
        assert!(!rule.matches(&event(seams_contracts::events::SOURCE_UPSTREAM, DocumentDeleted::DETAIL_TYPE)));
    }
}
