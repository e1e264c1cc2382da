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

venv=.tools/bench-venv
stamp="$(sha256sum bench/requirements.txt | cut -c1-16)"
if [[ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$stamp" > "$venv/.stamp"
fi
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
target/release/seams eval "$dataset" --json > "$out/quality-sqlite.json"
target/release/seams --search "$SEAMS_TEST_DATABASE_URL" eval "$dataset" --json > "$out/quality-postgres.json"
"$venv/bin/python" bench/quality_report.py
$started_stack && echo "stand-ins stopped on exit"
