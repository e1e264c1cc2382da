#!/usr/bin/env bash
# Schemathesis (pinned in scripts/requirements.txt) against `seams up` on a fresh data
# directory, with the OpenAPI document it serves: every operation, from the document's
# examples, its coverage phase, random fuzzing and stateful sequences.
#   scripts/schemathesis.sh [path to the seams binary] [--max-examples N]
# The checks are what the API promises (#21): no server error, and every answer's status,
# content type, headers and body as the document says, and 405 for a method a path does not
# take. It exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seams="${1:-$root/target/debug/seams}"
shift || true
[[ -x "$seams" ]] || { echo "schemathesis: no seams binary at $seams (cargo build -p seams)" >&2; exit 2; }

data="$(mktemp -d)"
log="$data.log"
# Deliveries only to a host that does not exist, as a deployment allow-lists its hosts: a
# webhook URL Schemathesis makes up (its own server's upload URL, say) is refused up front with
# a 400, not tried and failed as a 502.
SEAMS_OUTBOUND_ALLOWED_HOSTS=receiver.schemathesis.invalid "$seams" --data-dir "$data" up --port 0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data" "$log"' EXIT
for _ in $(seq 100); do
  base="$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)"
  [[ -n "$base" ]] && break
  sleep 0.1
done
[[ -n "${base:-}" ]] || { echo "schemathesis: seams up did not start:" >&2; cat "$log" >&2; exit 1; }

PATH="$root/.tools/venv/bin:$PATH" SCHEMATHESIS_TELEMETRY=false schemathesis run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method \
  --seed 20261203 --no-color "${@:---max-examples=30}"
