//! How often the offline guardrail would fire on ordinary text: runs it over JSON Lines files
//! (BEIR `corpus.jsonl`/`queries.jsonl`: `title` and `text`) and Markdown files, and prints
//! one JSON line with the texts read, those it flagged (by policy) and its throughput.
//! A flag on text with no personal data in it is a false block.
//!
//!   cargo run --release -p infer --example guardrail_scan -- ../shared/eval/cranfield/corpus.jsonl …

use std::collections::BTreeMap;
use std::time::Instant;

use infer::guardrail::pii;

fn texts(path: &str) -> Result<Vec<String>, String> {
    let content = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    if !path.ends_with(".jsonl") {
        return Ok(vec![content]);
    }
    content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{path}: {e}"))?;
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            Ok(format!("{}\n{}", field("title"), field("text")))
        })
        .collect()
}

fn main() -> Result<(), String> {
    let mut all = Vec::new();
    for path in std::env::args().skip(1) {
        all.extend(texts(&path)?);
    }
    let bytes: usize = all.iter().map(String::len).sum();
    let started = Instant::now();
    let mut by_policy: BTreeMap<&str, usize> = BTreeMap::new();
    let mut flagged = Vec::new();
    for text in &all {
        let findings = pii::find(text);
        for finding in &findings {
            *by_policy.entry(finding.kind.policy()).or_default() += 1;
        }
        if let Some(first) = findings.first() {
            flagged.push(text[first.range.clone()].to_owned());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "texts": all.len(), "bytes": bytes, "flagged": flagged.len(), "by_policy": by_policy,
        "examples": flagged.iter().take(10).collect::<Vec<_>>(),
        "mb_per_s": (bytes as f64 / 1e6) / seconds.max(1e-9),
    });
    println!("{report}");
    Ok(())
}
