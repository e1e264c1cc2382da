"""What MCP's `search` tool adds over `POST /retrieve` on the same index (issue 23's goal:
at most 2 ms).

Starts `target/release/seams up` on a fresh data directory holding the example corpus
(ingested first with `seams ingest`), then sends the same queries both ways, interleaved
(retrieve, search, retrieve, search, …) on two keep-alive connections, so drift on the
machine touches both alike. The MCP request is a stateless `tools/call` as the official
clients send it. Prints and writes JSON: p50/p99 of each and the difference of the medians.

  python bench/mcp_overhead.py --rounds 500 --out bench/out/mcp_overhead.json [--embedder hashing]
"""

import argparse
import http.client
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEAMS = ROOT / "target" / "release" / "seams"
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-11-25"}


def timed(connection, path, body, headers):
    started = time.perf_counter()
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    payload = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status == 200, (path, response.status, payload[:300])
    return elapsed, json.loads(payload)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--embedder", default=None, help="seams --embedder (default: seams's own)")
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    questions = [q["question"] for q in json.loads((ROOT / "examples" / "questions.json").read_text())]
    flags = ["--embedder", arguments.embedder] if arguments.embedder else []

    with tempfile.TemporaryDirectory() as data:
        common = [str(SEAMS), "--data-dir", data, *flags]
        subprocess.run([*common, "ingest", "examples/docs"], cwd=ROOT, check=True, capture_output=True)
        server = subprocess.Popen([*common, "up", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            address = next(w for w in server.stdout.readline().split() if w.startswith("http://"))
            host, port = address.removeprefix("http://").split(":")
            retrieve_connection = http.client.HTTPConnection(host, int(port))
            mcp_connection = http.client.HTTPConnection(host, int(port))
            retrieve_ms, search_ms = [], []
            for round_ in range(arguments.rounds + 20):  # the first 20 warm up
                query = questions[round_ % len(questions)]
                retrieve, found = timed(retrieve_connection, "/retrieve", {"query": query, "top_k": 5},
                                        {"content-type": "application/json"})
                call = {"jsonrpc": "2.0", "id": round_, "method": "tools/call",
                        "params": {"name": "search", "arguments": {"query": query, "top_k": 5}}}
                search, answered = timed(mcp_connection, "/mcp", call, MCP_HEADERS)
                passages = answered["result"]["structuredContent"]["passages"]
                assert [p["chunk_id"] for p in passages] == [r["chunk_id"] for r in found["results"]], query
                if round_ >= 20:
                    retrieve_ms.append(retrieve)
                    search_ms.append(search)
        finally:
            server.terminate()
            server.wait()

    result = {
        "rounds": arguments.rounds,
        "embedder": arguments.embedder or "seams default",
        "retrieve_ms": {"p50": statistics.median(retrieve_ms), "p99": percentile(retrieve_ms, 0.99)},
        "mcp_search_ms": {"p50": statistics.median(search_ms), "p99": percentile(search_ms, 0.99)},
        "added_p50_ms": statistics.median(search_ms) - statistics.median(retrieve_ms),
        "added_median_of_pairs_ms": statistics.median(s - r for s, r in zip(search_ms, retrieve_ms)),
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
