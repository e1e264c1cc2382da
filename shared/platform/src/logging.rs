//! JSON logs, one object per line. Inside an invocation every line carries, under `span`, the
//! Lambda request id, the X-Ray trace id, the function's name, `cold_start` and (once the
//! request's is known) the `correlation_id`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use seams_contracts::CorrelationId;
use tracing::Instrument;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber for the process. The level comes from `AWS_LAMBDA_LOG_LEVEL`
/// (set by Lambda's advanced logging controls), else `RUST_LOG`, else `info`. Calling it
/// twice is harmless.
pub fn init() {
    let filter = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().and_then(|v| EnvFilter::try_new(v.to_ascii_lowercase()).ok()))
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stdout));
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture it).
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// The Lambda invocation a log line belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    pub request_id: String,
    pub trace_id: Option<String>,
    pub function: String,
    /// The process's first invocation.
    pub cold_start: bool,
}

static WARM: AtomicBool = AtomicBool::new(false);

impl Invocation {
    /// From the runtime's context; the first one a process makes is its cold start.
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        Self {
            request_id: context.request_id.clone(),
            trace_id: context.xray_trace_id.clone(),
            function: context.env_config.function_name.clone(),
            cold_start: !WARM.swap(true, Ordering::Relaxed),
        }
    }
}

tokio::task_local! {
    static CURRENT: Invocation;
}

/// The invocation this task runs in, to carry into a task spawned for it (which does not
/// inherit it).
pub fn current_invocation() -> Option<Invocation> {
    CURRENT.try_with(Invocation::clone).ok()
}

/// Whether the current invocation is the process's first (`None` outside an invocation).
pub fn cold_start() -> Option<bool> {
    CURRENT.try_with(|invocation| invocation.cold_start).ok()
}

/// The current invocation's X-Ray trace header (`Root=…;Parent=…;Sampled=…`), if any.
pub fn trace_header() -> Option<String> {
    CURRENT.try_with(|invocation| invocation.trace_id.clone()).ok().flatten()
}

/// Runs one invocation with its fields on every log line inside it.
pub async fn invocation_scope<T>(invocation: Invocation, work: impl Future<Output = T>) -> T {
    let span = tracing::info_span!(
        "invocation",
        request_id = %invocation.request_id,
        trace_id = invocation.trace_id.as_deref(),
        function = %invocation.function,
        cold_start = invocation.cold_start,
    );
    CURRENT.scope(invocation, work.instrument(span)).await
}

/// A span whose `correlation_id` field lands on every log line written inside it, with the
/// invocation's fields (the JSON lines show the innermost span only).
pub fn correlation_span(correlation_id: &CorrelationId) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        correlation_id = %correlation_id,
        request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        function = tracing::field::Empty,
        cold_start = tracing::field::Empty,
    );
    let _ = CURRENT.try_with(|invocation| {
        span.record("request_id", invocation.request_id.as_str());
        if let Some(trace_id) = &invocation.trace_id {
            span.record("trace_id", trace_id.as_str());
        }
        span.record("function", invocation.function.as_str());
        span.record("cold_start", invocation.cold_start);
    });
    span
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn log_lines_are_json_with_the_correlation_id() {
        let captured = Captured::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), captured.clone());
        tracing::subscriber::with_default(subscriber, || {
            let _guard = correlation_span(&CorrelationId::new("corr-42")).entered();
            tracing::info!(document_id = "doc-1", "stored");
        });
        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
        assert_eq!(line["span"]["correlation_id"], "corr-42");
        assert_eq!(line["message"], "stored");
        assert_eq!(line["document_id"], "doc-1");
        assert_eq!(line["level"], "INFO");
    }

    #[tokio::test]
    async fn inside_an_invocation_every_line_carries_its_request_trace_function_and_cold_start() {
        let captured = Captured::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), captured.clone());
        let _default = tracing::subscriber::set_default(subscriber);
        let invocation = Invocation {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            trace_id: Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into()),
            function: "seams-InferFunction-x1".into(),
            cold_start: true,
        };
        invocation_scope(invocation, async {
            tracing::info!("before the request is known");
            let span = correlation_span(&CorrelationId::new("corr-7"));
            async { tracing::warn!("inside the request") }.instrument(span).await;
        })
        .await;
        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{output}");
        for line in &lines {
            assert_eq!(line["span"]["request_id"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "{line}");
            assert!(line["span"]["trace_id"].as_str().unwrap().starts_with("Root=1-5bef4de7"), "{line}");
            assert_eq!(line["span"]["function"], "seams-InferFunction-x1");
            assert_eq!(line["span"]["cold_start"], true);
        }
        assert_eq!(lines[1]["span"]["correlation_id"], "corr-7");
    }
}
