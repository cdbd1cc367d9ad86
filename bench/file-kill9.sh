#!/usr/bin/env bash
# What a kill -9 does to the file input's lines on their way to the file
# output: one file of 200-byte lines read from the beginning, the agent
# killed with SIGKILL after a delay, started again, and the output checked
# once every line arrived: lines missing, lines written twice, and whether
# the twice-written ones carry the same id.
#
#   bench/file-kill9.sh [--mib MiB] [--kill-after SECONDS] [--rounds N] [AGENT_BINARY]
set -euo pipefail
MIB=64 AFTER=1 ROUNDS=1
while [ $# -gt 0 ]; do
	case $1 in
	--mib) MIB=$2; shift 2 ;;
	--kill-after) AFTER=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	-h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--*) echo "file-kill9.sh: unknown flag $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/lfkill9.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
bin=${1:-}
if [ -z "$bin" ]; then
	(cd "$root" && go build -o "$work/logflux-agent" ./cmd/logflux-agent)
	bin=$work/logflux-agent
fi
lines=$((MIB * 1024 * 1024 / 200))
awk -v n="$lines" 'BEGIN { pad = sprintf("%*s", 180, ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%09d %s\n", i, substr(pad, 1, 189) }' >"$work/big.log"
start() {
	"$bin" run --config "$work/agent.yaml" --unix-path "$work/agent.sock" 2>>"$work/agent.log" &
	pid=$!
}
for r in $(seq "$ROUNDS"); do
	rm -rf "$work/data" "$work/out"
	cat >"$work/agent.yaml" <<-YAML
		data_dir: $work/data
		admin: {address: "off"}
		queue: {type: disk, when_full: block}
		outputs:
		  - {type: file, path: $work/out/entries.ndjson, max_size: 64GiB}
		inputs:
		  - {type: file, name: big, include: ["$work/big.log"], start_at: beginning}
	YAML
	start
	sleep "$AFTER"
	before=$(wc -l <"$work/out/entries.ndjson" 2>/dev/null || echo 0)
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	start
	# Until every line is there and nothing more comes for 2 s.
	last=-1 still=0
	while [ "$still" -lt 20 ]; do
		n=$(wc -l <"$work/out/entries.ndjson" 2>/dev/null || echo 0)
		if [ "$n" = "$last" ] && [ "$n" -ge "$lines" ]; then still=$((still + 1)); else still=0; fi
		last=$n
		sleep 0.1
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	out=$work/out/entries.ndjson
	total=$(wc -l <"$out")
	# Lines written more than once, and the range of their numbers (a range
	# as long as their count: one contiguous run of the file).
	read -r payloads dmin dmax < <(grep -o '"payload":"[0-9]\{9\}' "$out" | cut -c12- | sort | uniq -c |
		awk '$1 > 1 {d++; if (min == "") min = $2; max = $2} END {print d + 0, (min == "" ? "-" : min + 0), (max == "" ? "-" : max + 0)}')
	distinct=$(grep -o '"payload":"[0-9]\{9\}' "$out" | sort -u | wc -l)
	ids=$(grep -o '"id":"[^"]*"' "$out" | sort | uniq -c | awk '$1 > 1 {d++} END {print d + 0}')
	printf 'round %d: killed after %ss with %d of %d lines in the output; after the restart %d lines: %d distinct (missing %d), %d lines written more than once (lines %s to %s), %d ids written more than once\n' \
		"$r" "$AFTER" "$before" "$lines" "$total" "$distinct" $((lines - distinct)) "$payloads" "$dmin" "$dmax" "$ids"
done
