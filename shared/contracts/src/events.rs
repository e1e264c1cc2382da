//! The events on the seams bus: each detail type, its source, and its detail contract.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::answer::{AnswerFailed, AnswerReady, QuestionAsked};
use crate::ingest::{DocumentDeleted, DocumentIngested, DocumentPublished};
use crate::output::{AnswerDelivered, DeliveryFailed};
use crate::process::DocumentProcessed;

/// An event detail contract: its EventBridge `detail-type` and the `source` seams publishes
/// it under. Upstream events (`DocumentPublished`, `QuestionAsked`) come from a configurable
/// source; their `SOURCE` is the default.
pub trait BusEvent: Serialize + DeserializeOwned + JsonSchema {
    const DETAIL_TYPE: &'static str;
    const SOURCE: &'static str;
    /// Whether upstream systems put it on the bus too, under their own source.
    const FROM_UPSTREAM: bool = false;
}

pub const SOURCE_INGEST: &str = "seams.ingest";
pub const SOURCE_PROCESS: &str = "seams.process";
pub const SOURCE_OUTPUT: &str = "seams.output";
pub const SOURCE_ANSWER: &str = "seams.answer";
/// Default source of upstream events; deployments set their own.
pub const SOURCE_UPSTREAM: &str = "seams.upstream";

macro_rules! bus_event {
    ($type:ty, $detail_type:literal, $source:expr) => {
        bus_event!($type, $detail_type, $source, false);
    };
    ($type:ty, $detail_type:literal, $source:expr, $from_upstream:expr) => {
        impl BusEvent for $type {
            const DETAIL_TYPE: &'static str = $detail_type;
            const SOURCE: &'static str = $source;
            const FROM_UPSTREAM: bool = $from_upstream;
        }
    };
}

bus_event!(DocumentPublished, "DocumentPublished", SOURCE_UPSTREAM, true);
bus_event!(DocumentIngested, "DocumentIngested", SOURCE_INGEST);
// Ingest publishes it once a document is gone; upstream systems send it to delete one.
bus_event!(DocumentDeleted, "DocumentDeleted", SOURCE_INGEST, true);
bus_event!(DocumentProcessed, "DocumentProcessed", SOURCE_PROCESS);
bus_event!(QuestionAsked, "QuestionAsked", SOURCE_UPSTREAM, true);
bus_event!(AnswerReady, "AnswerReady", SOURCE_ANSWER);
bus_event!(AnswerFailed, "AnswerFailed", SOURCE_ANSWER);
bus_event!(AnswerDelivered, "AnswerDelivered", SOURCE_OUTPUT);
bus_event!(DeliveryFailed, "DeliveryFailed", SOURCE_OUTPUT);
