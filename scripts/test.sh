#!/usr/bin/env bash
# The test command (README, .ci/run): installs the pinned test stack if missing, starts the
# local stand-ins, runs every check, and stops what it started on every exit path.
#
#   scripts/test.sh           everything CI runs
#   scripts/test.sh --quick   the edit loop: format and tests only (no clippy, no sam build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true

started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }

# Two long steps run beside others, so the 2 cores stay busy: clippy while the tools install
# (mostly downloads), and sam build at the lowest priority while the tests build and run
# (their waits on the stand-ins leave a core idle). Each writes a log, printed when joined.
logs="$(mktemp -d)"
background=()

# in_background NAME COMMAND...: starts COMMAND in its own process group, so stopping it
# stops its compilers too (job control, `set -m`). Not `setsid`: Linux's autogroup scheduler
# shares the CPU equally between sessions, which would undo `nice`.
in_background() {
  local name="$1"
  shift
  set -m
  "$@" >"$logs/$name.log" 2>&1 &
  set +m
  background+=("$!")
}

stop_everything() {
  for group in "${background[@]}"; do kill -- "-$group" 2>/dev/null || true; done
  bash scripts/stack.sh stop
  rm -rf "$logs"
}
trap stop_everything EXIT
# A signal ends the script through its EXIT trap, so the stand-ins stop then too.
trap 'exit 130' INT TERM

# join NAME PID: waits for a background step, prints its log, fails if it failed.
join() {
  local status=0
  wait "$2" || status=$?
  local running=() group
  for group in "${background[@]}"; do [[ "$group" == "$2" ]] || running+=("$group"); done
  background=("${running[@]}")
  step "$1 (joined)"
  cat "$logs/$1.log"
  return "$status"
}

export SAM_CLI_TELEMETRY=0
# sam validate/build read a region and credentials; nothing here calls AWS.
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

if ! $quick; then
  step "clippy, in the background"
  # Then the local binary alone, as the quick start builds it (every crate without its `aws`
  # feature, which the workspace build turns on), and with `--features aws` (decision 2).
  in_background clippy bash -c 'cargo clippy --workspace --all-targets --locked -- -D warnings &&
    cargo clippy -p seams --locked -- -D warnings &&
    cargo clippy -p seams --features aws --locked -- -D warnings'
  clippy=$!
fi

step "install tools"
bash scripts/setup.sh

step "start stand-ins"
bash scripts/stack.sh start
# shellcheck source=/dev/null
source .tools/run/stack.env

export PATH="$root/.tools/venv/bin:$root/.tools/cargo/bin:$root/scripts/node/node_modules/.bin:$PATH"

step "format"
cargo fmt --all --check

step "test modules: every file in a crate's tests/ is declared in its tests/main.rs"
# Such a crate builds tests/main.rs alone (decision 0035): an undeclared file would not run.
# A pattern matching nothing expands to nothing (also for the state machines below).
shopt -s nullglob
for main in */tests/main.rs */*/tests/main.rs; do
  for file in "$(dirname "$main")"/*.rs; do
    module="$(basename "$file" .rs)"
    [[ "$module" == main ]] || grep -qx "mod $module;" "$main" \
      || { echo "$file is not declared in $main (add: mod $module;)"; exit 1; }
  done
done

if ! $quick; then
  join clippy "$clippy"

  step "sam build (cargo-lambda + zig, arm64 release), in the background at nice 19"
  # The check is that every function cross-compiles and packages, not how fast it runs: no
  # optimisation, no LTO and parallel codegen make it several times faster. Deploy builds
  # use the real profile (Cargo.toml). Its target directories (release, aarch64) are not
  # the tests' (debug), so the two builds do not wait on each other's lock.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    in_background sam-build nice -n 19 sam build --beta-features
  sam_build=$!
fi

step "tests"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

step "Schemathesis: seams up against its OpenAPI document"
bash scripts/schemathesis.sh target/debug/seams

step "supply chain: cargo deny (licenses, bans incl. OpenSSL, sources)"
cargo deny --locked check licenses bans sources
if cargo deny fetch db >/dev/null 2>&1; then
  cargo deny --locked check advisories
else
  echo "advisories: not checked (the RustSec database on GitHub cannot be reached from here)"
fi

step "template: cfn-lint"
cfn-lint template.yaml
step "template: least privilege, dead-letter queues, deploys through the live alias"
python scripts/check_template.py --self-test
python scripts/check_template.py template.yaml
step "OpenAPI: docs/openapi.json is a valid OpenAPI 3.1 document"
python -c "from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename('docs/openapi.json')[0])"
step "event schemas: the registry's as the contract types generate them; the sample events match"
python scripts/event_schemas.py --self-test
python scripts/event_schemas.py
step "template: sam validate"
sam validate --region us-east-1

step "state machines: asl-validator"
machines=(statemachines/*.asl.json)
if ((${#machines[@]})); then
  # ARNs are ${...} DefinitionSubstitutions until deployed.
  for machine in "${machines[@]}"; do asl-validator --no-arn-check --json-path "$machine"; done
else
  echo "no state machines yet"
fi

if ! $quick; then
  join sam-build "$sam_build"

  step "cargo lambda deploy --dry (each function's deploy metadata, as the template's)"
  dry_runs="$(mktemp -d)"
  for function in ingest process retrieve retrieve-indexer infer infer-stream output answer gateway; do
    cargo lambda deploy --dry "$function" --iam-role arn:aws:iam::000000000000:role/seams-dry-run \
      --output-format json >"$dry_runs/$function.json"
    echo "$function: packaged"
  done
  python scripts/check_deploy_metadata.py template.yaml "$dry_runs"
  rm -rf "$dry_runs"
fi

step "all checks passed in $((SECONDS - started))s"
