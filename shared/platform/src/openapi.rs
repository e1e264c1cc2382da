//! The seams HTTP API as an OpenAPI 3.1 document, built from the route table and the contract
//! types' JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12, what schemars writes).
//! `seams up` serves it at `/openapi.json`; `docs/openapi.json` is the committed copy a test
//! holds to it. MCP (`/mcp`) and the OpenAI-compatible chat API (`/v1/*`) follow their own
//! protocols' specifications and are not described here.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use seams_contracts::ErrorName::{
    DeliveryFailed, Forbidden, GuardrailIntervened, InvalidInput, InvalidModelOutput, ModelThrottled, NotFound,
    Transient, Unsupported,
};
use seams_contracts::{detached, ErrorName};

use crate::routes::{
    DELETE_DOCUMENT, GET_DOCUMENT, GET_DOCUMENTS, POST_ANSWER, POST_DOCUMENTS, POST_DOCUMENTS_BATCH, POST_INFERENCE,
    POST_RETRIEVE, POST_UPLOADS,
};

/// One operation: its route key, what it takes and what it answers.
struct Operation {
    route: &'static str,
    id: &'static str,
    summary: &'static str,
    /// The request body's committed schema name (`shared/contracts/schemas/<name>.json`).
    request: Option<&'static str>,
    /// The success status and its body's schema name.
    success: (u16, &'static str),
    /// The problems this route answers, each a status `local/tests/statuses.rs` reaches.
    problems: &'static [ErrorName],
}

const OPERATIONS: [Operation; 9] = [
    Operation {
        route: POST_DOCUMENTS,
        id: "ingestDocument",
        summary: "Ingest one document (inline text or base64); processing and indexing follow.",
        request: Some("ingest-document-request"),
        success: (202, "ingest-response"),
        problems: &[InvalidInput, Forbidden, Transient],
    },
    Operation {
        route: POST_DOCUMENTS_BATCH,
        id: "ingestDocuments",
        summary: "Ingest up to 100 documents; each is accepted or rejected on its own, in order.",
        request: Some("ingest-batch-request"),
        success: (200, "ingest-batch-response"),
        // A document the store cannot take is a 503 in its own result, inside the 200.
        problems: &[InvalidInput, Forbidden],
    },
    Operation {
        route: POST_UPLOADS,
        id: "startUpload",
        summary: "A signed URL to PUT a large document to; the upload is then ingested.",
        request: Some("upload-request"),
        success: (201, "upload-ticket"),
        problems: &[InvalidInput, Forbidden, Unsupported, Transient],
    },
    Operation {
        route: GET_DOCUMENTS,
        id: "listDocuments",
        summary: "The documents in id order, a page at a time.",
        request: None,
        success: (200, "document-list"),
        problems: &[InvalidInput, Forbidden, Transient],
    },
    Operation {
        route: GET_DOCUMENT,
        id: "getDocument",
        summary: "A document's versions, and whether it is deleted.",
        request: None,
        success: (200, "document-status"),
        problems: &[InvalidInput, Forbidden, NotFound, Transient],
    },
    Operation {
        route: DELETE_DOCUMENT,
        id: "deleteDocument",
        summary: "Delete a document: it leaves the index and DocumentDeleted goes on the bus.",
        request: None,
        success: (202, "document-status"),
        problems: &[InvalidInput, Forbidden, NotFound, Transient],
    },
    Operation {
        route: POST_RETRIEVE,
        id: "retrieve",
        summary: "The passages that best match a query: vector, keyword or hybrid search, with filters.",
        request: Some("retrieve-request"),
        success: (200, "retrieve-response"),
        problems: &[InvalidInput, Forbidden, Transient],
    },
    Operation {
        route: POST_INFERENCE,
        id: "infer",
        summary: "Ask the configured model, with the passages given as context.",
        request: Some("inference-request"),
        success: (200, "inference-response"),
        // It reads no documents, so no tenant is needed; the guardrail guards the answer
        // workflow's question and answer, not a raw model call.
        problems: &[InvalidInput, ModelThrottled, InvalidModelOutput, Transient],
    },
    Operation {
        route: POST_ANSWER,
        id: "answer",
        summary: "Retrieve, infer and deliver in one call: the answer workflow, synchronously.",
        request: Some("answer-request"),
        success: (200, "answer-response"),
        problems: &[
            InvalidInput,
            Forbidden,
            // An unknown or expired session_id.
            NotFound,
            GuardrailIntervened,
            ModelThrottled,
            InvalidModelOutput,
            DeliveryFailed,
            Transient,
        ],
    },
];

/// The document `seams up` serves at `/openapi.json`.
pub fn openapi_document() -> Value {
    // Each contract under its title (the type's name), its definitions beside it.
    let mut schemas = Map::new();
    let mut names = HashMap::new();
    for (file_name, schema) in seams_contracts::schemas() {
        let (schema, definitions) = detached(schema, "#/components/schemas/");
        let name = schema.get("title").and_then(Value::as_str).unwrap_or(file_name).to_owned();
        schemas.extend(definitions);
        schemas.insert(name.clone(), schema);
        names.insert(file_name, name);
    }
    let schema_ref = |file_name: &str| {
        let name = names.get(file_name).map_or(file_name, String::as_str);
        json!({"$ref": format!("#/components/schemas/{name}")})
    };

    let mut paths = Map::new();
    for operation in &OPERATIONS {
        let (method, path) = operation.route.split_once(' ').unwrap_or(("GET", operation.route));
        let mut responses = Map::new();
        let (status, body) = operation.success;
        let mut success =
            json!({"description": reason(status), "content": {"application/json": {"schema": schema_ref(body)}}});
        if operation.route == POST_DOCUMENTS {
            // What a client does next with the id it got (tools follow these links).
            let by_id = |id: &str| json!({"operationId": id, "parameters": {"id": "$response.body#/document_id"}});
            success["links"] = json!({"GetDocument": by_id("getDocument"), "DeleteDocument": by_id("deleteDocument")});
        }
        responses.insert(status.to_string(), success);
        for error in operation.problems {
            responses.insert(
                error.http_status().to_string(),
                json!({"$ref": format!("#/components/responses/{}", response_name(*error))}),
            );
        }
        if operation.request.is_some() {
            responses.insert("413".to_owned(), json!({"$ref": "#/components/responses/ContentTooLarge"}));
        }
        let mut spec = json!({
            "operationId": operation.id,
            "summary": operation.summary,
            "parameters": parameters(path),
            "responses": responses,
        });
        if let Some(request) = operation.request {
            let schema = request_schema(operation.route, schema_ref(request));
            spec["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        item[method.to_ascii_lowercase()] = spec;
    }

    let mut responses = Map::new();
    for error in ErrorName::ALL {
        responses.insert(response_name(error), problem_response(error.title()));
    }
    responses.insert("ContentTooLarge".to_owned(), problem_response("The body or document is larger than accepted"));

    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "seams",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Ingest documents, search them and answer questions from them. Errors are \
                RFC 9457 problem documents with a stable `type` and `error` (docs/errors.md). \
                Deployed, requests are SigV4-signed or carry a JWT (template parameter JwtIssuer).",
        },
        "paths": paths,
        "components": {"schemas": schemas, "responses": responses},
    })
}

/// The contract type a route takes, narrowed where the route takes less than the type: a
/// streamed answer is infer-stream's function URL's, and over HTTP the caller's token, never
/// the body, names the tenant.
fn request_schema(route: &str, contract: Value) -> Value {
    match route {
        POST_INFERENCE => json!({"allOf": [contract], "properties": {"stream": {"const": false}}}),
        POST_RETRIEVE | POST_ANSWER => json!({"allOf": [contract], "properties": {"tenant": {"type": "null"}}}),
        _ => contract,
    }
}

/// `{id}` segments as path parameters; `GET /documents` pages with `limit` and `after`.
fn parameters(path: &str) -> Value {
    let mut parameters: Vec<Value> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = json!({"type": "string", "pattern": seams_contracts::common::DOCUMENT_ID_PATTERN});
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    if path == "/documents" {
        parameters.push(json!({
            "name": "limit", "in": "query", "required": false,
            "description": "Documents per page (default 100).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        }));
        parameters.push(json!({
            "name": "after", "in": "query", "required": false,
            "description": "The previous page's `next_after`.",
            "schema": {"type": "string"},
        }));
    }
    Value::Array(parameters)
}

fn response_name(error: ErrorName) -> String {
    error.as_str().trim_start_matches("Seams.").to_owned()
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "Success",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    /// Every `$ref` under `node`.
    fn references(node: &Value, found: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_in_the_document() {
        let document = openapi_document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 50, "{} references", found.len());
        for target in found {
            let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{target} is not local"));
            assert!(document.pointer(pointer).is_some(), "{target} resolves to nothing");
        }
    }

    #[test]
    fn every_api_route_is_documented_with_its_method_and_no_other() {
        let document = openapi_document();
        let documented: Vec<String> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase()))
            })
            .collect();
        let api: Vec<&str> = ROUTES.iter().filter(|r| r.function != "gateway").map(|r| r.key).collect();
        assert_eq!(documented.len(), api.len(), "{documented:?}");
        for route in api {
            assert!(documented.iter().any(|d| d == route), "{route} is not documented");
        }
    }

    #[test]
    fn a_definition_shared_by_two_contracts_is_the_same_schema_in_both() {
        let mut seen: Map<String, Value> = Map::new();
        for (name, schema) in seams_contracts::schemas() {
            if let Some(Value::Object(definitions)) = schema.to_value().get("$defs").cloned() {
                for (definition, body) in definitions {
                    if let Some(earlier) = seen.insert(definition.clone(), body.clone()) {
                        assert_eq!(earlier, body, "{definition} differs in {name}: lifting would keep only one");
                    }
                }
            }
        }
    }

    #[test]
    fn operations_answer_their_success_and_the_problems_of_their_kind() {
        let document = openapi_document();
        let delete = &document["paths"]["/documents/{id}"]["delete"];
        assert_eq!(
            delete["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/DocumentStatus"
        );
        assert_eq!(delete["responses"]["404"]["$ref"], "#/components/responses/NotFound");
        assert_eq!(delete["parameters"][0]["name"], "id");
        assert!(delete.get("requestBody").is_none());
        let answer = &document["paths"]["/answer"]["post"];
        let body = &answer["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["allOf"][0]["$ref"], "#/components/schemas/AnswerRequest");
        assert_eq!(body["properties"]["tenant"], json!({"type": "null"}), "the token names the tenant, not the body");
        for status in ["400", "403", "413", "422", "429", "502", "503"] {
            assert!(answer["responses"].get(status).is_some(), "POST /answer: {status}");
        }
        assert!(document["paths"]["/retrieve"]["post"]["responses"].get("422").is_none());
        let links = &document["paths"]["/documents"]["post"]["responses"]["202"]["links"];
        assert_eq!(links["GetDocument"]["parameters"]["id"], "$response.body#/document_id");
    }
}
