#!/usr/bin/env bash
# Retrieval quality on Cranfield, side by side in one run: `seams eval` (embedded SQLite and
# PostgreSQL + pgvector) and bm25s (Lucene BM25). Writes bench/out/quality-*.json and the
# "Retrieval quality" section of bench/RESULTS.md. bench/run.sh runs it too.
#
#   bench/quality.sh [DATASET_DIR]     default ../shared/eval/cranfield
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dataset="${1:-$root/../shared/eval/cranfield}"
out=bench/out
mkdir -p "$out"

# shellcheck source=bench/venv.sh
source bench/venv.sh
started_stack=false
if [[ -z "${SEAMS_TEST_DATABASE_URL:-}" ]]; then
  bash scripts/setup.sh
  trap 'bash scripts/stack.sh stop' EXIT
  bash scripts/stack.sh start
  started_stack=true
  # shellcheck source=/dev/null
  source .tools/run/stack.env
fi

cargo build --release --locked -p seams
"$venv/bin/python" bench/bm25s_eval.py "$dataset" > "$out/quality-bm25s.json"
for embedder in hashing local; do
  target/release/seams --embedder "$embedder" eval "$dataset" --json > "$out/quality-sqlite-$embedder.json"
  target/release/seams --embedder "$embedder" --search "$SEAMS_TEST_DATABASE_URL" eval "$dataset" --json \
    > "$out/quality-postgres-$embedder.json"
done
"$venv/bin/python" bench/quality_report.py
$started_stack && echo "stand-ins stopped on exit"
