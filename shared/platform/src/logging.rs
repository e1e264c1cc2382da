//! JSON logs, one object per line, with the current request's `correlation_id`.

use seams_contracts::CorrelationId;
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

/// A span whose `correlation_id` field lands on every log line written inside it.
pub fn correlation_span(correlation_id: &CorrelationId) -> tracing::Span {
    tracing::info_span!("request", correlation_id = %correlation_id)
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
}
