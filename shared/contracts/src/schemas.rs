use schemars::{schema_for, Schema};
use serde_json::{Map, Value};

use crate::{
    answer, decompose, guardrail, implicit_filter, infer, ingest, output, process, retrieve, session, Problem,
};

/// Every contract's JSON Schema, keyed by the file name it is committed under in
/// `shared/contracts/schemas/` (without `.json`).
pub fn schemas() -> Vec<(&'static str, Schema)> {
    vec![
        ("problem", schema_for!(Problem)),
        ("ingest-document-request", schema_for!(ingest::IngestDocumentRequest)),
        ("ingest-batch-request", schema_for!(ingest::IngestBatchRequest)),
        ("ingest-response", schema_for!(ingest::IngestResponse)),
        ("ingest-batch-response", schema_for!(ingest::IngestBatchResponse)),
        ("upload-request", schema_for!(ingest::UploadRequest)),
        ("upload-ticket", schema_for!(ingest::UploadTicket)),
        ("document-status", schema_for!(ingest::DocumentStatus)),
        ("document-list", schema_for!(ingest::DocumentList)),
        ("process-document", schema_for!(ingest::ProcessDocument)),
        ("event-document-published", schema_for!(ingest::DocumentPublished)),
        ("event-document-ingested", schema_for!(ingest::DocumentIngested)),
        ("event-document-deleted", schema_for!(ingest::DocumentDeleted)),
        ("record-header", schema_for!(process::RecordHeader)),
        ("record-chunk", schema_for!(process::ChunkRecord)),
        ("event-document-processed", schema_for!(process::DocumentProcessed)),
        ("retrieve-request", schema_for!(retrieve::RetrieveRequest)),
        ("retrieve-response", schema_for!(retrieve::RetrieveResponse)),
        ("inference-request", schema_for!(infer::InferenceRequest)),
        ("inference-response", schema_for!(infer::InferenceResponse)),
        ("delivery-request", schema_for!(output::DeliveryRequest)),
        ("delivery-receipt", schema_for!(output::DeliveryReceipt)),
        ("event-answer-delivered", schema_for!(output::AnswerDelivered)),
        ("event-delivery-failed", schema_for!(output::DeliveryFailed)),
        ("answer-request", schema_for!(answer::AnswerRequest)),
        ("guardrail-invoke", schema_for!(guardrail::GuardrailInvoke)),
        ("guardrail-verdict", schema_for!(guardrail::GuardrailVerdict)),
        ("session-invoke", schema_for!(session::SessionInvoke)),
        ("session-history", schema_for!(session::SessionHistory)),
        ("rewrite-invoke", schema_for!(session::RewriteInvoke)),
        ("rewritten", schema_for!(session::Rewritten)),
        ("decompose-invoke", schema_for!(decompose::DecomposeInvoke)),
        ("decomposed", schema_for!(decompose::Decomposed)),
        ("merge-invoke", schema_for!(decompose::MergeInvoke)),
        ("merged", schema_for!(decompose::Merged)),
        ("implicit-filter-invoke", schema_for!(implicit_filter::ImplicitFilterInvoke)),
        ("filters-inferred", schema_for!(implicit_filter::FiltersInferred)),
        ("answer-response", schema_for!(answer::AnswerResponse)),
        ("event-answer-ready", schema_for!(answer::AnswerReady)),
        ("event-answer-failed", schema_for!(answer::AnswerFailed)),
    ]
}

/// `schema` taken apart to be embedded in a larger document (an OpenAPI document, a registry
/// schema): the schema without `$schema` and `$defs`, and its definitions, every
/// `#/$defs/<name>` reference in either now `<definitions_at><name>`. schemars keeps every
/// definition at the root, so one level is all there is.
pub fn detached(schema: Schema, definitions_at: &str) -> (Value, Map<String, Value>) {
    let mut schema = schema.to_value();
    retarget(&mut schema, definitions_at);
    let definitions = match schema.as_object_mut() {
        Some(root) => {
            root.remove("$schema");
            match root.remove("$defs") {
                Some(Value::Object(definitions)) => definitions,
                _ => Map::new(),
            }
        }
        None => Map::new(),
    };
    (schema, definitions)
}

fn retarget(node: &mut Value, definitions_at: &str) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                if let Some(name) = target.strip_prefix("#/$defs/") {
                    *target = format!("{definitions_at}{name}");
                }
            }
            map.values_mut().for_each(|value| retarget(value, definitions_at));
        }
        Value::Array(items) => items.iter_mut().for_each(|value| retarget(value, definitions_at)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_moves_the_definitions_out_and_points_every_reference_at_them() {
        let answer = schemas().into_iter().find(|(name, _)| *name == "answer-request").map(|(_, s)| s).unwrap();
        let (schema, definitions) = detached(answer, "#/components/schemas/");
        assert!(schema.get("$defs").is_none() && schema.get("$schema").is_none());
        assert!(definitions.contains_key("Destination"));
        let text = format!("{schema}{}", Value::Object(definitions));
        assert!(!text.contains("#/$defs/"));
        assert!(text.contains("\"#/components/schemas/Destination\""));
    }
}
