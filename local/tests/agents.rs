//! MCP and OpenAI's chat API as agents and chat tools reach seams: the official Python
//! clients (PyPI `mcp` and `openai`, pinned in scripts/requirements.txt), unmodified, against
//! the real local pipeline over the example corpus. MCP over stdio (`seams mcp`), then over
//! streamable HTTP and the chat API on `seams up`, and over stdio again with `seams mcp --api`
//! pointed at that `seams up` as it would be at a deployed API. The scripts in clients/ assert what each
//! call answers; this test runs them and reads their summaries.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{workspace, Server};
use serde_json::Value;

/// Runs a client script; its last line is a JSON summary.
fn client(script: &str, arguments: &[&str]) -> Value {
    let output = Command::new("python3")
        .current_dir(workspace())
        .arg(Path::new("local/tests/clients").join(script))
        .args(arguments)
        .output()
        .expect("python3 runs (scripts/test.sh puts .tools/venv/bin first on PATH)");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        !stderr.contains("No module named"),
        "the official clients are missing: run through scripts/test.sh, which installs them into .tools/venv\n{stderr}"
    );
    assert!(output.status.success(), "{script} {arguments:?} failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(summary).unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"))
}

#[test]
fn the_official_mcp_and_openai_clients_work_unmodified() {
    let data = tempfile::tempdir().unwrap();
    let ingested = Command::new(env!("CARGO_BIN_EXE_seams"))
        .current_dir(workspace())
        .arg("--data-dir")
        .arg(data.path())
        .args(["ingest", "examples/docs"])
        .output()
        .unwrap();
    assert!(ingested.status.success(), "{}", String::from_utf8_lossy(&ingested.stderr));

    let data_dir = data.path().to_str().unwrap();
    let stdio = client("mcp_client.py", &["stdio", env!("CARGO_BIN_EXE_seams"), data_dir]);
    assert_eq!(stdio["tools"].as_array().map(Vec::len), Some(5), "{stdio}");

    let server = Server::start_with(data.path(), &["up", "--port", "0", "--mcp-write-tools"]);
    let http = client("mcp_client.py", &["http", &format!("{}/mcp", server.base)]);
    assert!(http["citations"].as_u64() >= Some(1), "{http}");
    let chat = client("openai_client.py", &[&format!("{}/v1", server.base)]);
    assert_eq!(chat["models"], serde_json::json!(["seams"]), "{chat}");
    let remote = client("mcp_client.py", &["stdio-api", env!("CARGO_BIN_EXE_seams"), &server.base]);
    assert_eq!(remote["transport"], "stdio-api", "{remote}");
    server.stop();
}

#[test]
fn write_tools_are_offered_only_when_enabled() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["up", "--port", "0"]);
    let listed = Command::new("python3")
        .current_dir(workspace())
        .args(["-c", LIST_TOOLS, &format!("{}/mcp", server.base)])
        .output()
        .expect("python3 runs");
    server.stop();
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}{}", String::from_utf8_lossy(&listed.stderr));
    assert_eq!(stdout.trim(), "answer get_document list_documents search");
}

const LIST_TOOLS: &str = r#"
import asyncio, sys
from mcp import Client
async def main():
    async with Client(sys.argv[1]) as client:
        print(" ".join(sorted(tool.name for tool in (await client.list_tools()).tools)))
asyncio.run(main())
"#;
