//! The bus events as EventBridge's schema registry takes them, so upstream teams can download
//! code bindings: JSON Schema draft 4 (the newest draft the registry reads) describing the
//! whole event, its envelope and its detail. Committed under `shared/contracts/eventbridge/`
//! and registered by template.yaml (`scripts/check_template.py` keeps the two equal).

use schemars::schema_for;
use serde_json::{json, Value};

use crate::answer::{AnswerFailed, AnswerReady, QuestionAsked};
use crate::events::BusEvent;
use crate::ingest::{DocumentDeleted, DocumentIngested, DocumentPublished};
use crate::output::{AnswerDelivered, DeliveryFailed};
use crate::process::DocumentProcessed;
use crate::schemas::detached;

const DRAFT_4: &str = "http://json-schema.org/draft-04/schema#";

/// Every bus event's registry schema, keyed by its detail type.
pub fn event_registry_schemas() -> Vec<(&'static str, Value)> {
    vec![
        registry_schema::<DocumentPublished>(),
        registry_schema::<DocumentIngested>(),
        registry_schema::<DocumentDeleted>(),
        registry_schema::<DocumentProcessed>(),
        registry_schema::<QuestionAsked>(),
        registry_schema::<AnswerReady>(),
        registry_schema::<AnswerFailed>(),
        registry_schema::<AnswerDelivered>(),
        registry_schema::<DeliveryFailed>(),
    ]
}

fn registry_schema<E: BusEvent>() -> (&'static str, Value) {
    let (detail, mut definitions) = detached(schema_for!(E), "#/definitions/");
    definitions.insert(E::DETAIL_TYPE.to_owned(), detail);
    // Upstream systems send under the source a deployment configures (UpstreamEventSource).
    let source = match E::FROM_UPSTREAM {
        true => json!({"type": "string"}),
        false => json!({"type": "string", "enum": [E::SOURCE]}),
    };
    let mut schema = json!({
        "$schema": DRAFT_4,
        "title": E::DETAIL_TYPE,
        "description": format!("An EventBridge event whose detail is seams' {}.", E::DETAIL_TYPE),
        "x-amazon-events-detail-type": E::DETAIL_TYPE,
        "x-amazon-events-source": E::SOURCE,
        "type": "object",
        "required": ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"type": "string", "enum": [E::DETAIL_TYPE]},
            "source": source,
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": {"$ref": format!("#/definitions/{}", E::DETAIL_TYPE)},
        },
        "definitions": definitions,
    });
    as_draft_4(&mut schema);
    (E::DETAIL_TYPE, schema)
}

/// Rewrites what schemars writes (draft 2020-12) that draft 4 spells otherwise: `const`
/// becomes a one-value `enum`, and a boolean where a schema belongs an object (draft 4 allows
/// booleans only as `additionalProperties`). [`detached`] already moved `$defs`.
fn as_draft_4(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if let Some(value) = map.remove("const") {
                map.insert("enum".to_owned(), Value::Array(vec![value]));
            }
            for (keyword, value) in map.iter_mut() {
                match (keyword.as_str(), value) {
                    ("properties" | "definitions" | "patternProperties", Value::Object(schemas)) => {
                        schemas.values_mut().for_each(boolean_as_object)
                    }
                    ("anyOf" | "oneOf" | "allOf" | "items", Value::Array(schemas)) => {
                        schemas.iter_mut().for_each(boolean_as_object)
                    }
                    ("items" | "not", schema) => boolean_as_object(schema),
                    _ => {}
                }
            }
            map.values_mut().for_each(as_draft_4);
        }
        Value::Array(items) => items.iter_mut().for_each(as_draft_4),
        _ => {}
    }
}

/// `true` (anything) is `{}`; `false` (nothing) is `{"not": {}}`.
fn boolean_as_object(schema: &mut Value) {
    if let Value::Bool(accepts) = *schema {
        *schema = if accepts { json!({}) } else { json!({"not": {}}) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(detail_type: &str) -> Value {
        event_registry_schemas().into_iter().find(|(name, _)| *name == detail_type).map(|(_, s)| s).unwrap()
    }

    /// Every `$ref` in `node`, and every `key` used as a schema keyword anywhere.
    fn collect(node: &Value, key: &str, refs: &mut Vec<String>, uses: &mut usize) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    refs.push(target.clone());
                }
                *uses += usize::from(map.contains_key(key));
                map.values().for_each(|v| collect(v, key, refs, uses));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, key, refs, uses)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_in_definitions_and_nothing_is_draft_2020() {
        for (name, schema) in event_registry_schemas() {
            let (mut refs, mut consts) = (Vec::new(), 0);
            collect(&schema, "const", &mut refs, &mut consts);
            assert_eq!(consts, 0, "{name}: draft 4 has no const");
            assert!(!schema.to_string().contains("$defs"), "{name}: draft 4 has no $defs");
            for target in refs {
                let definition = target.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("{name}: {target}"));
                assert!(schema["definitions"].get(definition).is_some(), "{name}: {target} is not defined");
            }
        }
    }

    #[test]
    fn the_envelope_names_the_detail_type_and_seams_own_source() {
        let processed = schema("DocumentProcessed");
        assert_eq!(processed["$schema"], DRAFT_4);
        assert_eq!(processed["properties"]["detail-type"]["enum"], json!(["DocumentProcessed"]));
        assert_eq!(processed["properties"]["source"]["enum"], json!(["seams.process"]));
        assert_eq!(processed["properties"]["detail"]["$ref"], "#/definitions/DocumentProcessed");
        assert!(processed["definitions"]["DocumentProcessed"]["properties"]["document_id"].is_object());
        // A deployment names its upstream source: any string.
        for upstream in ["DocumentPublished", "DocumentDeleted", "QuestionAsked"] {
            assert_eq!(schema(upstream)["properties"]["source"], json!({"type": "string"}), "{upstream}");
        }
    }

    #[test]
    fn const_becomes_a_one_value_enum_and_a_boolean_schema_an_object() {
        let mut node = json!({
            "anyOf": [{"const": 1}, {"$ref": "#/definitions/V1"}, false],
            "properties": {"json": true, "n": {"items": true}},
            "additionalProperties": false,
        });
        as_draft_4(&mut node);
        let expected = json!({
            "anyOf": [{"enum": [1]}, {"$ref": "#/definitions/V1"}, {"not": {}}],
            "properties": {"json": {}, "n": {"items": {}}},
            "additionalProperties": false,
        });
        assert_eq!(node, expected);
    }
}
