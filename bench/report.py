"""Writes bench/RESULTS.md from bench/out/* (what bench/run.sh measured), keeping the
hand-written sections below the marker line as they are."""

import json
import platform
import statistics
import subprocess
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
MARKER = "<!-- Everything below is kept by bench/report.py: earlier and criterion measurements. -->"


def command(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    cores = command("nproc")
    return (f"{cores} cores ({cpu}), {mem_kib / 1048576:.0f} GiB, {platform.system()} {platform.machine()}; "
            f"{command('rustc', '--version')}; Python {platform.python_version()}; "
            f"commit {command('git', 'rev-parse', '--short', 'HEAD')}")


def ms(summary):
    return f"{summary['median']:.1f} ({summary['p90']:.1f})"


def cold_starts():
    results = json.loads((OUT / "coldstart.json").read_text())
    hello = results["hello-world (lambda_runtime)"]["first_response_ms"]["median"]
    python = results["Python 3.11 + boto3 (ingest's work)"]["first_response_ms"]["median"]
    ingest = results["ingest"]["first_response_ms"]["median"]
    runs = next(iter(results.values()))["runs"]
    lines = [
        "## Cold starts (`bench/coldstart.py`)",
        "",
        f"Each function started {runs} times from exec, round-robin with the others, against the Lambda Runtime",
        "API played on loopback; SDK calls go to moto on loopback (so network time is near zero and what",
        "remains is the runtime's own work). Median (p90) in ms; peak RSS is the median of VmHWM after exec.",
        "The seams binaries run their real init (configuration, AWS SDK clients) and a sample event from",
        "`events/`; the Python function does ingest's work (boto3 S3, SQS and EventBridge clients at init).",
        "answer's first response includes a synchronous execution (StartSyncExecution) of a one-state",
        "Express machine in moto, so it is the front function's own cost on top of any workflow.",
        "The gateway's first response is an MCP `tools/call` of `search` that invokes retrieve (moto's Lambda",
        "answers with a queued response), so it includes one Lambda Invoke round trip.",
        "",
        "| function | init | first response | peak RSS MiB (at init) | first response / hello-world |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        ratio = result["first_response_ms"]["median"] / hello
        init_rss = result.get("init_rss_mib", {}).get("median", 0.0)
        lines.append(f"| {name} | {ms(result['init_ms'])} | {ms(result['first_response_ms'])} | "
                     f"{result['rss_mib']['median']:.1f} ({init_rss:.1f}) | {ratio:.1f}× |")
    lines += ["", f"Python 3.11 + boto3 / seams ingest, first response: **{python / ingest:.1f}×**.", ""]
    return lines


def mcp_overhead():
    lines = ["## MCP `search` over `POST /retrieve` (`bench/mcp_overhead.py`)", "",
             "`seams up` over the example corpus; the same queries both ways, interleaved, 500 rounds after 20",
             "of warm-up; the MCP call is a stateless `tools/call` as the official clients send it. Goal: at most",
             "2 ms added.", "",
             "| embedder | POST /retrieve p50 / p99 | MCP search p50 / p99 | added (p50; median of pairs) |",
             "|---|---|---|---|"]
    for name in ("hashing", "local"):
        path = OUT / f"mcp_overhead_{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        lines.append(f"| {r['embedder']} | {r['retrieve_ms']['p50']:.2f} / {r['retrieve_ms']['p99']:.2f} ms | "
                     f"{r['mcp_search_ms']['p50']:.2f} / {r['mcp_search_ms']['p99']:.2f} ms | "
                     f"{r['added_p50_ms']:.2f} ms; {r['added_median_of_pairs_ms']:.2f} ms |")
    return lines + [""]


def zips():
    lines = ["## Deployment packages (`cargo lambda build --release --arm64 --output-format zip`)", "",
             "| function | zip |", "|---|---|"]
    for line in (OUT / "zips.txt").read_text().split("\n"):
        if line.strip():
            name, size = line.split()
            lines.append(f"| {name} | {int(size) / 1048576:.2f} MiB |")
    return lines + [""]


def jsonl(name):
    return [json.loads(line) for line in (OUT / name).read_text().splitlines() if line.strip()]


def chunking():
    seams, langchain = jsonl("process.jsonl"), jsonl("langchain.jsonl")
    ours = statistics.median(r for run in seams for r in run["chunk_runs"])
    theirs = statistics.median(r for run in langchain for r in run["chunk_runs"])
    pipeline = statistics.median(r for run in seams for r in run["pipeline_runs"])
    spread = lambda runs: f"{min(runs):.2f}–{max(runs):.2f}"  # noqa: E731
    return [
        "## Chunking: seams vs LangChain (`functions/process/examples/throughput.rs`, `bench/langchain_split.py`)",
        "",
        f"The same {seams[0]['mib']} MiB Markdown text, chunks of {seams[0]['max_tokens']} cl100k tokens with 10% overlap, one",
        "core, three interleaved rounds of three runs each. LangChain: `RecursiveCharacterTextSplitter",
        ".from_tiktoken_encoder` (langchain-text-splitters 1.1.3, tiktoken 0.14.0).",
        "",
        "| splitter | MiB/s (median) | range | chunks |",
        "|---|---|---|---|",
        f"| seams (one pass over bpe-openai's cl100k pieces) | {ours:.2f} | {spread([r for run in seams for r in run['chunk_runs']])} | {seams[0]['chunks']} |",
        f"| LangChain RecursiveCharacterTextSplitter | {theirs:.2f} | {spread([r for run in langchain for r in run['chunk_runs']])} | {langchain[0]['chunks']} |",
        "",
        f"seams / LangChain: **{ours / theirs:.1f}×** (goal ≥ 5×). The whole of process (extract + clean +",
        f"chunk + hashing embed) on the same text: **{pipeline:.2f} MiB/s** per core (goal ≥ 20).",
        "",
    ]


def raw(title, note, name):
    body = (OUT / name).read_text().strip()
    return [title, "", note, "", "```text", body, "```", ""]


def end_to_end():
    result = json.loads((OUT / "e2e.json").read_text())
    return [
        "## End to end, locally (`local/examples/e2e.rs`)",
        "",
        f"`seams ingest` of {result['documents']} Markdown documents ({result['mib']} MiB) until every one is processed",
        "and indexed (embedded SQLite, hashing embedder), then the answer workflow (local ASL runner:",
        "retrieve, offline model, deliver) for 100 questions.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| ingest to searchable | {result['ingest_to_searchable_s']:.1f} s ({result['documents_per_s']:.0f} documents/s) |",
        f"| answer latency p50 | {result['answer_p50_ms']:.1f} ms |",
        f"| answer latency p99 | {result['answer_p99_ms']:.1f} ms |",
        "",
    ]


def main():
    kept = ""
    if RESULTS.exists() and MARKER in RESULTS.read_text():
        kept = RESULTS.read_text().split(MARKER, 1)[1]
    lines = [
        "# Benchmark results",
        "",
        f"Measured by `bench/run.sh` on {datetime.now(timezone.utc):%Y-%m-%d}: {machine()}.",
        "Release builds with the real profile (`opt-level = \"s\"`, fat LTO, one codegen unit). Figures",
        "compare alternatives on one machine in one run; they are not promises.",
        "",
        *cold_starts(),
        *zips(),
        *mcp_overhead(),
        *chunking(),
        *raw("## Retrieve latency (`functions/retrieve/examples/search_latency.rs`)",
             "Synthetic corpus of hashing vectors; 200 queries per mode; embedded SQLite and pgvector.",
             "retrieve.txt"),
        *end_to_end(),
        *raw("## process: peak memory (`functions/process/examples/peak_memory.rs`)",
             "One Markdown document of each size, processed whole.", "memory.txt"),
        MARKER,
    ]
    RESULTS.write_text("\n".join(lines) + (kept if kept else "\n"))


if __name__ == "__main__":
    main()
