#!/usr/bin/env bash
# Runs bench/run.mjs of a baseline copy of this SDK and of this one, one
# after the other, for a number of rounds, so that before/after figures come
# from the same window of a shared machine (compare CPU per entry first).
#
#   git archive <base-commit> sdk/js | tar -x -C /tmp/sdk-base
#   ln -s "$PWD/node_modules" /tmp/sdk-base/sdk/js/node_modules
#   LOGFLUX_AGENT_BIN=$PWD/../../bin/logflux-agent bash bench/compare.sh /tmp/sdk-base/sdk/js 2 --quick
#
# Arguments: the baseline's sdk/js directory, the number of rounds
# (default 2), then flags for run.mjs (--quick, --go).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:?usage: compare.sh BASE_SDK_DIR [ROUNDS] [run.mjs flags]}"
base="$(cd "$base" && pwd)"
rounds="${2:-2}"
shift $(( $# >= 2 ? 2 : 1 ))
if [ ! -f "$base/bench/run.mjs" ]; then
	echo "compare.sh: $base/bench/run.mjs not found" >&2
	exit 1
fi
for r in $(seq 1 "$rounds"); do
	for dir in "$base" "$here"; do
		echo "== round $r: $dir ($(date -u +%H:%M:%S) UTC)"
		(cd "$dir" && node bench/run.mjs "$@")
	done
done
