#!/usr/bin/env bash
# Every benchmark in one run on this machine; writes bench/out/* and bench/RESULTS.md.
#
#   bench/run.sh           the full run (about 45 minutes on 2 cores, most of it release builds)
#   bench/run.sh --quick   5 cold-start rounds, 10k chunks only, 200 documents: a smoke run
#
# Installs what it compares with (Python 3.11 + boto3 + awslambdaric, LangChain's splitter)
# into .tools/bench-venv, starts the stand-ins (moto, PostgreSQL) and stops them at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true
rounds=20 documents=1000 sizes="10000 100000"
if $quick; then rounds=5 documents=200 sizes="10000"; fi

started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }
out=bench/out
mkdir -p "$out"

step "tools and stand-ins"
bash scripts/setup.sh
trap 'bash scripts/stack.sh stop' EXIT
trap 'exit 130' INT TERM
bash scripts/stack.sh start
# shellcheck source=/dev/null
source .tools/run/stack.env
# shellcheck source=bench/venv.sh
source bench/venv.sh
# cargo-lambda finds zig through the first python3 on PATH (the tools venv has ziglang).
export PATH="$root/.tools/venv/bin:$PATH"

binaries=(ingest process retrieve retrieve-indexer infer output answer gateway)
bin_flags=()
for binary in "${binaries[@]}"; do bin_flags+=(--bin "$binary"); done

step "release builds for this machine (the real profile)"
# The functions as deploy builds make them (the workspace's default members: features
# resolved over the functions alone, no dev-dependency features), the baseline, the examples.
cargo build --release --locked "${bin_flags[@]}"
cargo build --release --locked -p hello-lambda
cargo build --release --locked --workspace --example throughput --example peak_memory --example search_latency --example e2e

step "cold starts ($rounds rounds)"
"$venv/bin/python" bench/coldstart.py --runs "$rounds" --out "$out/coldstart.json"

step "chunking: seams vs LangChain, interleaved"
: > "$out/process.jsonl"; : > "$out/langchain.jsonl"
for _ in 1 2 3; do
  target/release/examples/throughput "$out/corpus.md" 3 >> "$out/process.jsonl"
  "$venv/bin/python" bench/langchain_split.py "$out/corpus.md" 300 3 >> "$out/langchain.jsonl"
done

step "retrieve latency"
: > "$out/retrieve.txt"
for size in $sizes; do
  echo "# $size chunks" >> "$out/retrieve.txt"
  target/release/examples/search_latency "$size" "$SEAMS_TEST_DATABASE_URL" >> "$out/retrieve.txt"
done

step "MCP search over POST /retrieve, same index (seams up)"
cargo build --release --locked -p seams
"$venv/bin/python" bench/mcp_overhead.py --rounds 500 --embedder hashing --out "$out/mcp_overhead_hashing.json"
"$venv/bin/python" bench/mcp_overhead.py --rounds 500 --out "$out/mcp_overhead_local.json"

step "end to end, locally ($documents documents)"
target/release/examples/e2e "$documents" 100 > "$out/e2e.json"

step "process's peak memory"
: > "$out/memory.txt"
for mib in 1 5 10 50; do target/release/examples/peak_memory "$mib" >> "$out/memory.txt"; done

step "zip sizes (arm64, as deployed)"
cargo lambda build --release --arm64 --output-format zip --locked "${bin_flags[@]}"
: > "$out/zips.txt"
for binary in "${binaries[@]}"; do
  echo "$binary $(stat -c %s "target/lambda/$binary/bootstrap.zip")" >> "$out/zips.txt"
done

step "report"
"$venv/bin/python" bench/report.py

step "retrieval quality: seams eval vs bm25s on cranfield"
bash bench/quality.sh
step "done: bench/RESULTS.md ($((SECONDS - started))s)"
