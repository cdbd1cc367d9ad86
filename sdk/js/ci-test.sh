#!/usr/bin/env bash
# Tests the JavaScript SDK (@logflux/agent-sdk) against the real agent binary.
# Run from anywhere (make test-sdk-js runs it from the repository root):
#   LOGFLUX_AGENT_BIN=/abs/path/to/logflux-agent bash sdk/js/ci-test.sh
# Without LOGFLUX_AGENT_BIN the agent is built here with `go build`.
# Needs Node.js >= 20 and npm; installs the dev dependencies itself with
# `npm ci` from the committed package-lock.json (only the npm registry).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "sdk/js/ci-test.sh: node (>= 20) and npm are required" >&2
	exit 1
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
	echo "sdk/js/ci-test.sh: Node.js >= 20 is required, found $(node --version)" >&2
	exit 1
fi

tmp=""
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
if [ -z "${LOGFLUX_AGENT_BIN:-}" ]; then
	tmp="$(mktemp -d)"
	echo "== building the agent (LOGFLUX_AGENT_BIN is not set)"
	(cd "$root" && go build -o "$tmp/logflux-agent" ./cmd/logflux-agent)
	LOGFLUX_AGENT_BIN="$tmp/logflux-agent"
fi
case "$LOGFLUX_AGENT_BIN" in
/*) ;;
*) LOGFLUX_AGENT_BIN="$PWD/$LOGFLUX_AGENT_BIN" ;;
esac
if [ ! -x "$LOGFLUX_AGENT_BIN" ]; then
	echo "sdk/js/ci-test.sh: LOGFLUX_AGENT_BIN=$LOGFLUX_AGENT_BIN is not an executable" >&2
	exit 1
fi
export LOGFLUX_AGENT_BIN

cd "$here"
echo "== npm ci (node $(node --version), npm $(npm --version))"
npm ci --no-audit --no-fund --loglevel=error
echo "== node --test"
node --test test/*.test.mjs
