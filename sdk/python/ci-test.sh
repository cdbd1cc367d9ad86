#!/usr/bin/env bash
# Tests the Python SDK against the real agent: creates a virtualenv, installs
# the package and the test tools from PyPI, runs mypy and pytest.
# Run from anywhere; `make test-sdk-python` sets LOGFLUX_AGENT_BIN, else the
# agent is built here with `go build`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"

"$python" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"the Python SDK needs Python >= 3.10, {sys.executable} is {sys.version.split()[0]}")
PY

if [ -z "${LOGFLUX_AGENT_BIN:-}" ]; then
    LOGFLUX_AGENT_BIN="$here/.venv/logflux-agent"
    mkdir -p "$here/.venv"
    echo "== go build ./cmd/logflux-agent"
    (cd "$root" && go build -o "$LOGFLUX_AGENT_BIN" ./cmd/logflux-agent)
fi
export LOGFLUX_AGENT_BIN

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "== virtualenv $venv"
    "$python" -m venv "$venv"
fi
echo "== pip install the SDK and the test tools"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$here[test]"

cd "$here"
echo "== mypy (strict on the package, and the tests)"
"$venv/bin/python" -m mypy src/logflux tests

echo "== pytest against $LOGFLUX_AGENT_BIN"
# Run the installed package, not the source tree.
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
