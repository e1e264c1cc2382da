# Sourced by bench/run.sh and bench/quality.sh: the alternatives they compare with, pinned in
# bench/requirements.txt, in .tools/bench-venv (reinstalled when the pins change). Sets $venv.
venv=.tools/bench-venv
stamp="$(sha256sum bench/requirements.txt | cut -c1-16)"
if [[ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$stamp" > "$venv/.stamp"
fi
