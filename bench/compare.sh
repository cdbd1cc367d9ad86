#!/usr/bin/env bash
# bench/compare.sh: the same NDJSON workload against the LogFlux agent and the
# peers installed on this machine (rsyslog, Fluent Bit, Vector), end to end
# (until the last entry is in each one's output file), side by side.
#
# Every daemon gets a fresh temporary directory and its own Unix socket; the
# load is sent by the bench tool (internal/bench), which reads each daemon's
# CPU time and peak RSS from /proc. Nothing is installed without --install.
# Two yardsticks run too (bench/floor): a daemon that only splits lines and
# writes them out, and one that also writes them to a queue file.
# Usage: bench/compare.sh [--count N] [--payload BYTES] [--runs N] [--only LIST]
#                         [--out DIR] [--keep] [--install]
set -euo pipefail

COUNT=1000000     # entries per run
PAYLOAD=172       # payload bytes: a single-entry line of about 300 bytes
RUNS=2            # runs of each target; the table shows each and the median
ONLY="logflux,logflux-batch100,logflux-memory,logflux-memory-batch100,floor,floor-queue,rsyslog,fluent-bit,vector"
OUT=""            # keep the JSON results here (default: only printed)
KEEP=0            # keep the temporary directory (outputs, logs, configs)
INSTALL=0         # apt-get install rsyslog (and jq) when missing

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--count) COUNT=$2; shift 2 ;;
	--payload) PAYLOAD=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--install) INSTALL=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lfcompare.XXXXXX")
PIDS=() # daemons this script started and has not stopped yet
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "compare: $*" >&2; }
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

if [ "$INSTALL" = 1 ]; then
	missing=()
	command -v rsyslogd >/dev/null || missing+=(rsyslog)
	command -v jq >/dev/null || missing+=(jq)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get install -y "${missing[@]}" >&2
	fi
fi
command -v jq >/dev/null || { log "jq is needed to read the results (apt-get install jq, or --install)"; exit 1; }

# Build our agent, and logflux-bench: the load generator for every target.
mkdir -p "$WORK/bin"
log "building the agent in $ROOT"
(cd "$ROOT" && go build -o "$WORK/bin/logflux-agent" ./cmd/logflux-agent && go build -o "$WORK/bin/logflux-bench" ./cmd/logflux-bench && go build -o "$WORK/bin/floor" ./bench/floor)
AGENT=$WORK/bin/logflux-agent
BENCH=("$WORK/bin/logflux-bench")

# start_daemon DIR SOCKET COMMAND...: start it in the background, wait for its
# socket, and set DAEMON_PID. Returns 1 (with its log) if it does not come up.

# --- the targets: each writes its config into DIR and starts -------------------

AGENT_QUEUE=memory
pick_agent_config() { # settle the queue type and admin key the build accepts
	local d=$WORK/probe q a
	mkdir -p "$d"
	for q in disk memory; do
		for a in off ""; do
			agent_config "$d" "$q" "$a" >"$d/agent.yaml"
			if "$AGENT" validate --config "$d/agent.yaml" >/dev/null 2>&1; then
				AGENT_QUEUE=$q AGENT_ADMIN_OFF=$a
				return 0
			fi
		done
	done
	log "logflux-agent validate accepts none of the configurations:"
	"$AGENT" validate --config "$d/agent.yaml" >&2 || true
	exit 1
}
start_agent() { # DIR QUEUE
	agent_config "$1" "$2" "$AGENT_ADMIN_OFF" >"$1/agent.yaml"
	start_daemon "$1" "$1/in.sock" "$AGENT" run --config "$1/agent.yaml"
}
start_logflux() { start_agent "$1" "$AGENT_QUEUE"; }
start_logflux_memory() { start_agent "$1" memory; } # buffering in memory, as Fluent Bit and Vector do here

start_floor() { # bench/floor: split lines and write them out, nothing else
	start_daemon "$1" "$1/in.sock" "$WORK/bin/floor" "$1/in.sock" "$1/out.ndjson"
}
start_floor_queue() { # the same, and every line padded into a queue file too
	start_daemon "$1" "$1/in.sock" "$WORK/bin/floor" -queue "$1/in.sock" "$1/out.ndjson"
}

start_rsyslog() { # config as in shared/reference/deps.md section 5
	mkdir -p "$1/work"
	cat >"$1/rsyslog.conf" <<-EOF
		global(workDirectory="$1/work" maxMessageSize="64k")
		module(load="imptcp")
		module(load="mmjsonparse")
		template(name="raw" type="string" string="%rawmsg%\n")
		template(name="json" type="string" string="%\$!all-json-plain%\n")
		ruleset(name="ndjson" queue.type="LinkedList" queue.size="200000" queue.timeoutEnqueue="600000") {
		  action(type="mmjsonparse" cookie="" useRawMsg="on")
		  if \$parsesuccess == "OK" then {
		    action(type="omfile" file="$1/out.ndjson" template="json" asyncWriting="on" ioBufferSize="256k" flushInterval="1")
		  } else {
		    action(type="omfile" file="$1/bad.log" template="raw")
		  }
		}
		input(type="imptcp" path="$1/in.sock" unlink="on" ruleset="ndjson")
	EOF
	rsyslogd -N1 -f "$1/rsyslog.conf" >"$1/check.log" 2>&1 || { sed 's/^/    /' "$1/check.log" >&2; return 1; }
	start_daemon "$1" "$1/in.sock" rsyslogd -n -f "$1/rsyslog.conf" -i "$1/rsyslogd.pid"
}

start_fluentbit() {
	cat >"$1/fluent-bit.conf" <<-EOF
		[SERVICE]
		    flush        0.2
		    log_level    warn
		[INPUT]
		    name         unix_socket
		    socket_path  $1/in.sock
		    socket_mode  STREAM
		    format       json
		[OUTPUT]
		    name         file
		    match        *
		    path         $1
		    file         out.ndjson
		    format       plain
	EOF
	start_daemon "$1" "$1/in.sock" fluent-bit -c "$1/fluent-bit.conf"
}

start_vector() {
	mkdir -p "$1/data"
	cat >"$1/vector.toml" <<-EOF
		data_dir = "$1/data"
		[sources.in]
		type = "socket"
		mode = "unix_stream"
		path = "$1/in.sock"
		framing.method = "newline_delimited"
		decoding.codec = "json"
		[sinks.out]
		type = "file"
		inputs = ["in"]
		path = "$1/out.ndjson"
		encoding.codec = "json"
	EOF
	start_daemon "$1" "$1/in.sock" vector --quiet --config-toml "$1/vector.toml"
}

# --- running ---------------------------------------------------------------------

ROWS=() # one tab-separated line per target

# measure NAME QUEUE BATCH START-FUNCTION: RUNS fresh runs, one table row.
measure() {
	local name=$1 queue=$2 batch=$3 starter=$4 run dir json rates=() cpus=() rss=() pers=() ok=yes id bench_pid
	id=$name-batch$batch
	# The agent runs with a disk queue and a memory queue: name them apart
	# (their directories and --out files), e.g. logflux-agent-memory-batch1-2.
	[ "$name" != logflux-agent ] || id=$name-$queue-batch$batch
	for run in $(seq "$RUNS"); do
		dir=$WORK/$id-$run
		mkdir -p "$dir"
		log "$name, run $run of $RUNS"
		if ! "$starter" "$dir"; then
			ROWS+=("$name	$queue	$batch	failed to start	-	-	-	-	no")
			return
		fi
		json=$dir/result.json
		# In the background, so that a signal to this script is handled at once.
		"${BENCH[@]}" --addr "unix://$dir/in.sock" --pid "$DAEMON_PID" --label "$name" \
			--count "$COUNT" --payload "$PAYLOAD" --batch "$batch" --connections 1 \
			--flush-at-end=false --verify-file "$dir/out.ndjson" --verify-timeout 300s \
			--interval 2s --json "$json" >"$dir/report.txt" &
		bench_pid=$!
		PIDS+=("$bench_pid")
		wait "$bench_pid" || ok=no
		forget_pid "$bench_pid"
		sed 's/^/    /' "$dir/report.txt" >&2
		stop_daemon
		if [ ! -s "$json" ]; then
			ROWS+=("$name	$queue	$batch	bench failed	-	-	-	-	no")
			return
		fi
		if [ -n "$OUT" ]; then cp "$json" "$OUT/$id-$run.json"; fi
		rates+=("$(jq -r '.[0].verify.entries_per_sec // 0' "$json")")
		pers+=("$(jq -r '.[0].target.entries_per_cpu_second // 0' "$json")")
		cpus+=("$(jq -r '.[0].target.cpu_seconds // 0' "$json")")
		rss+=("$(jq -r '(.[0].target.peak_rss_bytes // 0) / 1048576' "$json")")
		[ "$(jq -r '.[0].verify.complete' "$json")" = true ] || ok=no
		[ "$KEEP" = 1 ] || rm -rf "$dir/out.ndjson" "$dir/data" "$dir/work"
	done
	ROWS+=("$name	$queue	$batch	$(printf '%.0f ' "${rates[@]}")	$(median %.0f "${rates[@]}")	$(median %.0f "${pers[@]}")	$(median %.2f "${cpus[@]}")	$(max "${rss[@]}")	$ok")
}
median() { # printf-format values...
	local f=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v f="$f" '{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf f, m}'
}
max() { printf '%s\n' "$@" | sort -g | tail -1 | awk '{printf "%.1f", $1}'; }

[ -z "$OUT" ] || mkdir -p "$OUT"
SKIPPED=()
if want logflux || want logflux-batch100; then
	pick_agent_config
	want logflux && measure logflux-agent "$AGENT_QUEUE" 1 start_logflux
	want logflux-batch100 && measure logflux-agent "$AGENT_QUEUE" 100 start_logflux
fi
if want logflux-memory || want logflux-memory-batch100; then
	[ -n "${AGENT_ADMIN_OFF+set}" ] || pick_agent_config
	want logflux-memory && measure logflux-agent memory 1 start_logflux_memory
	want logflux-memory-batch100 && measure logflux-agent memory 100 start_logflux_memory
fi
want floor && measure floor "none" 1 start_floor
want floor-queue && measure floor-queue "file, never read" 1 start_floor_queue
if want rsyslog; then
	if command -v rsyslogd >/dev/null; then measure rsyslog "LinkedList" 1 start_rsyslog; else SKIPPED+=("rsyslog (rsyslogd not installed; --install adds it)"); fi
fi
if want fluent-bit; then
	if command -v fluent-bit >/dev/null; then measure fluent-bit "memory" 1 start_fluentbit; else SKIPPED+=("Fluent Bit (fluent-bit not on PATH)"); fi
fi
if want vector; then
	if command -v vector >/dev/null; then measure vector "memory" 1 start_vector; else SKIPPED+=("Vector (vector not on PATH)"); fi
fi

# --- the table -------------------------------------------------------------------

version_of() {
	case $1 in
	logflux-agent) "$AGENT" version 2>/dev/null | awk '{print $2}' ;;
	rsyslog) rsyslogd -v 2>/dev/null | awk 'NR==1{print $2}' ;;
	fluent-bit) fluent-bit --version 2>/dev/null | awk 'NR==1{print $3}' ;;
	vector) vector --version 2>/dev/null | awk '{print $2}' ;;
	floor | floor-queue) echo "bench/floor" ;;
	esac
}
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r): $COUNT entries, payload $PAYLOAD bytes, 1 Unix socket connection, $RUNS run(s) of each target"
echo
{
	printf 'target\tversion\tqueue\tentries/message\tend-to-end entries/s (each run)\tmedian\tentries per CPU-second\tCPU s (median)\tpeak RSS MiB\tall arrived\n'
	for row in "${ROWS[@]}"; do
		IFS=$'\t' read -r name queue batch runs med per cpu rss ok <<<"$row"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(version_of "$name")" "$queue" "$batch" "$runs" "$med" "$per" "$cpu" "$rss" "$ok"
	done
} | column -t -s $'\t'
for s in "${SKIPPED[@]}"; do echo "skipped: $s"; done
