#!/usr/bin/env bash
# bench/ab.sh: two builds of the agent, run in turn on the same workload, so
# that a machine that speeds up and slows down (shared hosts do) treats both
# alike. Each round runs build A, then build B, each on a fresh directory, with
# the disk queue and a file output, end to end (until the file holds every
# entry). The machine writes back its dirty pages before each run, and the
# load generator is logflux-bench (cmd/logflux-bench), built from this tree.
#
# Usage: bench/ab.sh [--rounds N] [--count N] [--batch N] [--payload BYTES] [--queue disk|memory] [--durable] BUILD_A BUILD_B
# --durable also times each run until its output file is on disk: after the
# agent has stopped, `sync FILE` writes what it left in the page cache. It
# adds the columns "durable entries/s" (COUNT over the wall time of the
# whole run, start and stop included, plus that sync) and "entries per CPU-s
# with writeback" (the agent's CPU time plus the sync's).
#   e.g. git worktree add /tmp/old HEAD~3 && (cd /tmp/old && go build -o /tmp/a ./cmd/logflux-agent)
#        go build -o /tmp/b ./cmd/logflux-agent && bench/ab.sh /tmp/a /tmp/b
set -euo pipefail

ROUNDS=3 COUNT=1000000 BATCH=1 PAYLOAD=172 QUEUE=disk DURABLE=
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--batch) BATCH=$2; shift 2 ;;
	--payload) PAYLOAD=$2; shift 2 ;;
	--queue) QUEUE=$2; shift 2 ;;
	--durable) DURABLE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "unknown flag $1" >&2; usage >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || { usage >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/logflux-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
BENCH=$WORK/logflux-bench
(cd "$(dirname "$0")/.." && go build -o "$BENCH" ./cmd/logflux-bench)

head=$'build\tround\tend-to-end entries/s\tentries per CPU-second\tCPU s\tpeak RSS MiB'
[ -z "$DURABLE" ] || head+=$'\tdurable entries/s\tentries per CPU-s with writeback'
printf '%s\n' "$head" >"$WORK/table"
for round in $(seq "$ROUNDS"); do
	for build in A B; do
		bin=$A
		[ $build = B ] && bin=$B
		dir=$WORK/$build-$round
		mkdir -p "$dir"
		agent_config "$dir" "$QUEUE" off >"$dir/agent.yaml"
		sync
		start=$(date +%s.%N)
		"$BENCH" --spawn "$bin run --config $dir/agent.yaml" --addr "unix://$dir/in.sock" \
			--count "$COUNT" --payload "$PAYLOAD" --batch "$BATCH" --flush-at-end=false \
			--verify-file "$dir/out.ndjson" --json "$dir/r.json" >"$dir/report.txt" 2>&1 ||
			{ sed 's/^/    /' "$dir/report.txt" >&2; exit 1; }
		extra=
		if [ -n "$DURABLE" ]; then
			# sync's CPU time (user + system) and the whole run's wall time
			synccpu=$(/usr/bin/time -f '%U %S' sync "$dir/out.ndjson" 2>&1 | awk '{print $1 + $2}')
			wall=$(echo "$(date +%s.%N) - $start" | bc)
			extra=$(jq -r --arg n "$COUNT" --arg w "$wall" --arg s "$synccpu" \
				'.[0] | [(($n|tonumber) / ($w|tonumber) | floor), (($n|tonumber) / (.target.cpu_seconds + ($s|tonumber)) | floor)] | @tsv' "$dir/r.json")
		fi
		jq -r --arg b "$build" --arg r "$round" --arg extra "$extra" '.[0] | [$b, $r, (.verify.entries_per_sec|floor),
			(.target.entries_per_cpu_second|floor), ((.target.cpu_seconds*100|round)/100),
			((.target.peak_rss_bytes/1048576*10|floor)/10)] + (if $extra == "" then [] else ($extra | split("\t")) end) | @tsv' "$dir/r.json" >>"$WORK/table"
		rm -rf "$dir/data" "$dir/out.ndjson"
	done
done
echo "A = $A"
echo "B = $B"
echo "$COUNT entries a run, batch $BATCH, payload $PAYLOAD bytes, $QUEUE queue, $ROUNDS rounds, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
column -t -s $'\t' "$WORK/table"
