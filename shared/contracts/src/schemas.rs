use schemars::{schema_for, Schema};

use crate::{answer, guardrail, infer, ingest, output, process, retrieve, Problem};

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
        ("answer-response", schema_for!(answer::AnswerResponse)),
        ("event-answer-ready", schema_for!(answer::AnswerReady)),
        ("event-answer-failed", schema_for!(answer::AnswerFailed)),
    ]
}
