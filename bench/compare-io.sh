#!/usr/bin/env bash
# bench/compare-io.sh: the agent's network outputs, its file input and its
# syslog input side by side with an already-built Fluent Bit, on the same
# workload into the same sink, in interleaved rounds (agent, Fluent Bit, …;
# the order reversed every other round), with medians.
#
#   FLUENT_BIT=/path/to/fluent-bit bench/compare-io.sh [--only LIST] [--sides LIST]
#       [--count N] [--payload BYTES] [--mib MiB] [--rounds N] [--keep]
#
# Comparisons (--only, default all):
#   otlp, http, es, loki  COUNT entries of about PAYLOAD+120 bytes sent by
#                         logflux-bench over one Unix socket connection to each
#                         daemon's Unix socket input, delivered by its output
#                         of that kind to bench/sink (one HTTP server that
#                         counts entries and answers each protocol). Timed from
#                         the first byte sent to the last entry counted by the
#                         sink.
#   tail                  one file of MiB MiB of 200-byte lines read from the
#                         beginning (our `file` input, Fluent Bit's `tail` with a
#                         position db) into a file output; timed from the
#                         daemon's start to the last line in its output file.
#   syslog-tcp, syslog-udp  COUNT RFC 5424 messages of 200 bytes (bench/syslogload)
#                         into each one's syslog input (ours needs an agent
#                         build with it; skipped otherwise), out to a file;
#                         timed from the first message to the last line. UDP
#                         may lose datagrams: its figures are of what arrived.
# Sides (--sides, default agent,agent-memory,fluent-bit): our agent with its disk
# queue (flush = fsync), with its memory queue, Fluent Bit with its default
# memory buffering, and fluent-bit-fs (storage.type filesystem; not by default).
# agent-base (not by default) is a second agent build, AGENT_BASE=/path, with the
# disk queue: a before/after pair measured in the same interleaved rounds.
#
# Figures per run: entries (lines) per second, the daemon's CPU seconds per
# million entries (utime+stime from /proc over the timed span) and its peak RSS
# (VmHWM). Fluent Bit is not built here: give the binary as FLUENT_BIT (default:
# fluent-bit on PATH). AGENT=/path runs that agent build instead of building
# this tree's.
set -euo pipefail

ONLY="otlp,http,es,loki,tail,syslog-tcp,syslog-udp"
SIDES="agent,agent-memory,fluent-bit"
COUNT=1000000
PAYLOAD=180
MIB=256
ROUNDS=3
KEEP=0

usage() { sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--only) ONLY=$2; shift 2 ;;
	--sides) SIDES=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--payload) PAYLOAD=$2; shift 2 ;;
	--mib) MIB=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare-io.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lfcompareio.XXXXXX")
PIDS=() # processes this script started and has not stopped yet
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

log() { echo "compare-io: $*" >&2; }
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
side() { case ",$SIDES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

trap cleanup EXIT
trap 'exit 130' INT TERM

command -v jq >/dev/null || { log "jq is needed to read the sink's answers (apt-get install jq)"; exit 1; }
command -v curl >/dev/null || { log "curl is needed to ask the sink (apt-get install curl)"; exit 1; }
FLUENT_BIT=${FLUENT_BIT:-$(command -v fluent-bit || true)}
if side agent-base; then
	[ -n "${AGENT_BASE:-}" ] && [ -x "$AGENT_BASE" ] || { log "the agent-base side needs AGENT_BASE=/path/to/logflux-agent"; exit 1; }
fi
if side fluent-bit || side fluent-bit-fs; then
	[ -n "$FLUENT_BIT" ] && [ -x "$FLUENT_BIT" ] || { log "no Fluent Bit: set FLUENT_BIT=/path/to/fluent-bit (see docs/benchmarks.md)"; exit 1; }
fi

mkdir -p "$WORK/bin"
log "building the tools in $ROOT"
(cd "$ROOT" && go build -o "$WORK/bin/logflux-bench" ./cmd/logflux-bench && go build -o "$WORK/bin/sink" ./bench/sink &&
	go build -o "$WORK/bin/waitlines" ./bench/waitlines && go build -o "$WORK/bin/syslogload" ./bench/syslogload)
if [ -z "${AGENT:-}" ]; then
	(cd "$ROOT" && go build -o "$WORK/bin/logflux-agent" ./cmd/logflux-agent)
	AGENT=$WORK/bin/logflux-agent
fi

now_ns() { date +%s%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
peak_rss_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }
TICK=$(getconf CLK_TCK)

# --- the sink ----------------------------------------------------------------------

SINK=""
start_sink() {
	"$WORK/bin/sink" -addr-file "$WORK/sink.addr" >"$WORK/sink.log" 2>&1 &
	PIDS+=("$!")
	local i
	for i in $(seq 100); do
		[ -s "$WORK/sink.addr" ] && break
		sleep 0.05
	done
	SINK=$(cat "$WORK/sink.addr")
	SINK_HOST=${SINK%:*} SINK_PORT=${SINK##*:}
}
sink_reset() { curl -sf -X POST "http://$SINK/_sink/reset" >/dev/null; }

# --- configurations: agent side ----------------------------------------------------

agent_output() { # KIND: the agent's output section into the sink
	case $1 in
	otlp) printf '  - {type: otlp, endpoint: "http://%s"}\n' "$SINK" ;;
	http) printf '  - {type: http, url: "http://%s/http"}\n' "$SINK" ;;
	es) printf '  - {type: elasticsearch, endpoints: ["http://%s"], index: logs}\n' "$SINK" ;;
	loki) printf '  - {type: loki, endpoint: "http://%s"}\n' "$SINK" ;;
	esac
}
agent_config_head() { # DIR QUEUE: data dir, Unix socket, queue blocking when full, quiet, no admin server
	cat <<-EOF
		data_dir: $1/data
		unix: {path: $1/in.sock}
		queue: {type: $2, when_full: block}
		admin: {address: "off"}
		log: {level: warn}
	EOF
}
agent_config_out() { # DIR QUEUE KIND
	agent_config_head "$1" "$2"
	echo "outputs:"
	agent_output "$3"
}
agent_config_tail() { # DIR QUEUE FILE
	agent_config_head "$1" "$2"
	cat <<-EOF
		outputs:
		  - {type: file, path: $1/out.ndjson, max_size: 64GiB}
		inputs:
		  - {type: file, name: big, include: ["$3"], start_at: beginning}
	EOF
}

agent_config_syslog() { # DIR QUEUE ADDRESS(tcp://… or udp://…)
	agent_config_head "$1" "$2"
	cat <<-EOF
		outputs:
		  - {type: file, path: $1/out.ndjson, max_size: 64GiB}
		inputs:
		  - {type: syslog, name: bench, address: "$3"}
	EOF
}

# --- configurations: Fluent Bit side ----------------------------------------------

fb_service() { # DIR STORAGE(memory|filesystem)
	printf '[SERVICE]\n    flush        0.2\n    log_level    warn\n'
	if [ "$2" = filesystem ]; then
		printf '    storage.path %s/storage\n' "$1"
	fi
}
fb_output() { # KIND: the same output, into the same sink, with the same compression as ours
	case $1 in
	otlp) cat <<-EOF ;;
		[OUTPUT]
		    name                     opentelemetry
		    match                    *
		    host                     $SINK_HOST
		    port                     $SINK_PORT
		    logs_uri                 /v1/logs
		    compress                 gzip
		    logs_body_key            \$payload
		    logs_body_key_attributes true
	EOF
	http) cat <<-EOF ;;
		[OUTPUT]
		    name     http
		    match    *
		    host     $SINK_HOST
		    port     $SINK_PORT
		    uri      /http
		    format   json_lines
	EOF
	es) cat <<-EOF ;;
		[OUTPUT]
		    name               es
		    match              *
		    host               $SINK_HOST
		    port               $SINK_PORT
		    index              logs
		    suppress_type_name On
		    generate_id        On
		    compress           gzip
		    buffer_size        False
	EOF
	loki) cat <<-EOF ;;
		[OUTPUT]
		    name        loki
		    match       *
		    host        $SINK_HOST
		    port        $SINK_PORT
		    labels      job=bench, source=\$source, level=\$logLevel
		    compress    gzip
	EOF
	esac
}
fb_file_output() { # DIR: a file output writing DIR/out.ndjson, a JSON record a line
	cat <<-EOF
		[OUTPUT]
		    name   file
		    match  *
		    path   $1
		    file   out.ndjson
		    format plain
	EOF
}
fb_config_out() { # DIR STORAGE KIND
	fb_service "$1" "$2"
	cat <<-EOF
		[INPUT]
		    name         unix_socket
		    socket_path  $1/in.sock
		    socket_mode  STREAM
		    format       json
		    storage.type $2
	EOF
	fb_output "$3"
}
fb_config_tail() { # DIR STORAGE FILE
	fb_service "$1" "$2"
	cat <<-EOF
		[INPUT]
		    name           tail
		    path           $3
		    read_from_head true
		    db             $1/tail.db
		    storage.type   $2
	EOF
	fb_file_output "$1"
}

fb_config_syslog() { # DIR STORAGE ADDRESS
	local mode=${3%%://*} hostport=${3#*://}
	# The parser is the syslog-rfc5424 definition of Fluent Bit's own conf/parsers.conf.
	cat >"$1/parsers.conf" <<-'EOF'
		[PARSER]
		    Name        syslog-rfc5424
		    Format      regex
		    Regex       ^\<(?<pri>[0-9]{1,5})\>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[-0-9]+) (?<msgid>[^ ]+) (?<extradata>(\[(.*?)\]|-)) (?<message>.+)$
		    Time_Key    time
		    Time_Format %Y-%m-%dT%H:%M:%S.%L%z
		    Time_Keep   On
	EOF
	fb_service "$1" "$2"
	cat <<-EOF
		    parsers_file $1/parsers.conf
		[INPUT]
		    name                syslog
		    mode                $mode
		    listen              ${hostport%:*}
		    port                ${hostport##*:}
		    parser              syslog-rfc5424
		    receive_buffer_size 8M
		    storage.type        $2
	EOF
	fb_file_output "$1"
}

# start_side SIDE DIR MODE(out|tail|syslog) ARG: write SIDE's configuration into DIR and start it.
start_side() {
	local s=$1 d=$2 mode=$3 arg=$4 queue=disk storage=memory
	mkdir -p "$d"
	case $s in
	agent | agent-memory | agent-base)
		[ "$s" = agent-memory ] && queue=memory
		local bin=$AGENT
		[ "$s" = agent-base ] && bin=$AGENT_BASE
		"agent_config_$mode" "$d" "$queue" "$arg" >"$d/agent.yaml"
		start_daemon "$d" "$([ "$mode" = out ] && echo "$d/in.sock")" "$bin" run --config "$d/agent.yaml"
		;;
	fluent-bit | fluent-bit-fs)
		[ "$s" = fluent-bit-fs ] && storage=filesystem
		"fb_config_$mode" "$d" "$storage" "$arg" >"$d/fluent-bit.conf"
		start_daemon "$d" "$([ "$mode" = out ] && echo "$d/in.sock")" "$FLUENT_BIT" -c "$d/fluent-bit.conf"
		;;
	esac
}

# --- runs ----------------------------------------------------------------------------

RESULTS=$WORK/results.tsv # comparison side round entries/s cpu-s-per-million rss-MiB delivered entries-per-request
: >"$RESULTS"

# run_out KIND SIDE ROUND: COUNT entries through SIDE's KIND output into the sink.
run_out() {
	local kind=$1 s=$2 r=$3 d=$WORK/$1-$2-$3 t0 c0 st last n c1 rss final reqs
	sink_reset
	start_side "$s" "$d" out "$kind" || { printf '%s\t%s\t%s\tfailed\t-\t-\t-\n' "$kind" "$s" "$r" >>"$RESULTS"; return; }
	c0=$(cpu_ticks "$DAEMON_PID")
	t0=$(now_ns)
	"$WORK/bin/logflux-bench" --addr "unix://$d/in.sock" --pid "$DAEMON_PID" --label "$s" \
		--count "$COUNT" --payload "$PAYLOAD" --batch 1 --connections 1 --flush-at-end=false \
		--sync-first=false --interval 10s --json "$d/bench.json" >"$d/bench.txt" 2>&1 &
	local bench_pid=$!
	PIDS+=("$bench_pid")
	st=$(curl -s --max-time 700 "http://$SINK/_sink/wait?entries=$COUNT&timeout=600s" || true)
	c1=$(cpu_ticks "$DAEMON_PID")
	rss=$(peak_rss_mib "$DAEMON_PID")
	wait "$bench_pid" || log "$kind/$s: logflux-bench failed: $(tail -3 "$d/bench.txt")"
	forget_pid "$bench_pid"
	sleep 1 # entries arriving after the count was reached would be duplicates
	final=$(curl -s "http://$SINK/_sink/stats")
	n=$(jq -r .entries <<<"$final")
	reqs=$(jq -r .requests <<<"$final")
	last=$(jq -r .last_unix_ns <<<"$st")
	stop_daemon
	if [ "$(jq -r .entries <<<"$st")" -lt "$COUNT" ] 2>/dev/null || [ -z "$st" ]; then
		log "$kind/$s round $r: only $n of $COUNT entries reached the sink; daemon log:"
		tail -5 "$d/daemon.log" | sed 's/^/    /' >&2
		printf '%s\t%s\t%s\tincomplete\t-\t%s\t%s\n' "$kind" "$s" "$r" "$rss" "$n" >>"$RESULTS"
		return
	fi
	awk -v k="$kind" -v s="$s" -v r="$r" -v n="$COUNT" -v got="$n" -v t0="$t0" -v t1="$last" -v c="$((c1 - c0))" -v hz="$TICK" -v rss="$rss" -v q="$reqs" \
		'BEGIN { t = (t1 - t0) / 1e9; printf "%s\t%s\t%s\t%.0f\t%.2f\t%s\t%s\t%.0f\n", k, s, r, n / t, c / hz * 1e6 / n, rss, got, got / q }' >>"$RESULTS"
	log "$kind/$s round $r: $(tail -1 "$RESULTS" | cut -f4-7 | tr '\t' ' ') (entries/s, CPU-s per million, peak RSS MiB, entries at the sink)"
	[ "$KEEP" = 1 ] || rm -rf "$d/data" "$d/storage"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run_file KIND SIDE ROUND: lines into SIDE's input, out to a file output.
#   tail:        the big file, read from its beginning; timed from the daemon's start
#   syslog-tcp:  COUNT messages sent over one TCP connection (newline framing)
#   syslog-udp:  COUNT datagrams; what the kernel dropped is missing (lossy)
# Syslog runs are timed from the first message sent to the last line written.
run_file() {
	local kind=$1 s=$2 r=$3 d=$WORK/$1-$2-$3 t0 t1 c0=0 c rss got want=$LINES addr wait_pid idle=0 i
	mkdir -p "$d"
	case $kind in syslog-*) want=$COUNT idle=3s ;; esac
	sync
	# Following the output from before it exists: no line can be missed.
	"$WORK/bin/waitlines" -lines "$want" -idle "$idle" -timeout 10m "$d/out.ndjson" >"$d/wait.txt" 2>&1 &
	wait_pid=$!
	PIDS+=("$wait_pid")
	t0=$(now_ns)
	case $kind in
	tail) start_side "$s" "$d" tail "$BIGFILE" || { kill "$wait_pid"; return; } ;;
	syslog-*)
		addr=${kind#syslog-}://127.0.0.1:$(free_port)
		start_side "$s" "$d" syslog "$addr" || { kill "$wait_pid"; return; }
		for i in $(seq 100); do # until it listens
			ss -Hlnut | grep -q ":${addr##*:} " && break
			sleep 0.05
		done
		c0=$(cpu_ticks "$DAEMON_PID")
		t0=$(now_ns)
		"$WORK/bin/syslogload" -addr "$addr" -count "$COUNT" >"$d/load.txt" 2>&1 || log "$kind/$s: syslogload: $(cat "$d/load.txt")"
		;;
	esac
	while kill -0 "$wait_pid" 2>/dev/null; do # a daemon that died ends the wait
		kill -0 "$DAEMON_PID" 2>/dev/null || { log "$kind/$s: the daemon exited"; kill "$wait_pid"; }
		sleep 0.1
	done
	wait "$wait_pid" || true
	forget_pid "$wait_pid"
	read -r t1 got <"$d/wait.txt" || true
	c=$(cpu_ticks "$DAEMON_PID")
	rss=$(peak_rss_mib "$DAEMON_PID")
	sleep 1
	stop_daemon
	if ! [[ "${got:-}" =~ ^[0-9]+$ ]] || [ "$got" = 0 ]; then
		log "$kind/$s round $r: nothing arrived ($(cat "$d/wait.txt")); daemon log:"
		tail -5 "$d/daemon.log" | sed 's/^/    /' >&2
		printf '%s\t%s\t%s\tincomplete\t-\t%s\t0\n' "$kind" "$s" "$r" "$rss" >>"$RESULTS"
		return
	fi
	got=$(wc -l <"$d/out.ndjson") # and any that came after
	if [ "$kind" != syslog-udp ] && [ "$got" -lt "$want" ]; then
		log "$kind/$s round $r: $got of $want lines arrived; daemon log:"
		tail -5 "$d/daemon.log" | sed 's/^/    /' >&2
		printf '%s\t%s\t%s\tincomplete\t-\t%s\t%s\n' "$kind" "$s" "$r" "$rss" "$got" >>"$RESULTS"
		return
	fi
	# Rates and CPU per line are of the lines that arrived (UDP may lose some).
	awk -v k="$kind" -v s="$s" -v r="$r" -v got="$got" -v t0="$t0" -v t1="$t1" -v c="$((c - c0))" -v hz="$TICK" -v rss="$rss" \
		'BEGIN { t = (t1 - t0) / 1e9; printf "%s\t%s\t%s\t%.0f\t%.2f\t%s\t%s\n", k, s, r, got / t, c / hz * 1e6 / got, rss, got }' >>"$RESULTS"
	log "$kind/$s round $r: $(tail -1 "$RESULTS" | cut -f4-7 | tr '\t' ' ') (lines/s, CPU-s per million, peak RSS MiB, lines in the output)"
	[ "$KEEP" = 1 ] || rm -rf "$d/out.ndjson" "$d/data" "$d/storage"
}

# The sides in the order of round R: forwards in odd rounds, backwards in even.
sides_of_round() {
	local list
	IFS=, read -r -a list <<<"$SIDES"
	if [ $(($1 % 2)) = 1 ]; then printf '%s\n' "${list[@]}"; else printf '%s\n' "${list[@]}" | tac; fi
}

LINES=$((MIB * 1024 * 1024 / 200)) # in the big file
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for kind in otlp http es loki; do
	want "$kind" || continue
	[ -n "$SINK" ] || start_sink
	for r in $(seq "$ROUNDS"); do
		for s in $(sides_of_round "$r"); do run_out "$kind" "$s" "$r"; done
	done
done
if want tail; then
	BIGFILE=$WORK/big.log
	log "writing $BIGFILE: $LINES lines of 200 bytes"
	# 199 characters and a newline; each line differs.
	awk -v n="$LINES" 'BEGIN { pad = sprintf("%*s", 180, ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%09d %s\n", i, substr(pad, 1, 189) }' >"$BIGFILE"
	for r in $(seq "$ROUNDS"); do
		for s in $(sides_of_round "$r"); do run_file tail "$s" "$r"; done
	done
fi
for kind in syslog-tcp syslog-udp; do
	want "$kind" || continue
	if ! agent_config_syslog "$WORK" disk udp://127.0.0.1:1 >"$WORK/probe.yaml" || ! "$AGENT" validate --config "$WORK/probe.yaml" >/dev/null 2>&1; then
		log "skipping $kind: this agent build has no syslog input (AGENT=path to one that does)"
		continue
	fi
	for r in $(seq "$ROUNDS"); do
		for s in $(sides_of_round "$r"); do run_file "$kind" "$s" "$r"; done
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table -------------------------------------------------------------------------

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) {print "-"; exit} m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m}'; }
fbv=""
[ -z "$FLUENT_BIT" ] || fbv=$("$FLUENT_BIT" --version 2>/dev/null | awk 'NR==1{print $3}')
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $LOAD_BEFORE before and $LOAD_AFTER after; agent $("$AGENT" version 2>/dev/null | awk '{print $2}'), Fluent Bit ${fbv:-?}"
what=()
if want otlp || want http || want es || want loki; then what+=("outputs: $COUNT entries, payload $PAYLOAD bytes, 1 Unix socket connection"); fi
if want tail; then what+=("tail: $MIB MiB of 200-byte lines"); fi
if want syslog-tcp || want syslog-udp; then what+=("syslog: $COUNT messages of 200 bytes"); fi
echo "$(IFS=';'; echo "${what[*]}"); $ROUNDS interleaved round(s), medians"
echo
{
	printf 'comparison\tside\tentries/s (each round)\tmedian\tCPU-s per million (median)\tpeak RSS MiB (max)\tdelivered (each round)\tentries/request\tvs Fluent Bit: rate\tCPU\n'
	for kind in otlp http es loki tail syslog-tcp syslog-udp; do
		want "$kind" || continue
		declare -A med=() cpu=()
		for s in $(sides_of_round 1); do
			med[$s]=$(awk -F'\t' -v k="$kind" -v s="$s" '$1==k && $2==s && $4+0>0 {print $4}' "$RESULTS" | median)
			cpu[$s]=$(awk -F'\t' -v k="$kind" -v s="$s" '$1==k && $2==s && $5+0>0 {print $5}' "$RESULTS" | median)
		done
		for s in $(sides_of_round 1); do
			each=$(awk -F'\t' -v k="$kind" -v s="$s" '$1==k && $2==s {printf "%s ", $4}' "$RESULTS")
			rss=$(awk -F'\t' -v k="$kind" -v s="$s" '$1==k && $2==s && $6+0>0 {print $6}' "$RESULTS" | sort -g | tail -1)
			got=$(awk -F'\t' -v k="$kind" -v s="$s" '$1==k && $2==s {printf "%s ", $7}' "$RESULTS")
			per=$(awk -F'\t' -v k="$kind" -v s="$s" '$1==k && $2==s && $8+0>0 {print $8}' "$RESULTS" | median)
			rate_ratio="" cpu_ratio=""
			fb=${med[fluent-bit]:-}
			if [ -n "$fb" ] && [ "$fb" != - ] && [ "${med[$s]}" != - ]; then
				rate_ratio=$(awk -v a="${med[$s]}" -v b="$fb" 'BEGIN {printf "%.2fx", a / b}')
				cpu_ratio=$(awk -v a="${cpu[$s]}" -v b="${cpu[fluent-bit]}" 'BEGIN {printf "%.2fx", a / b}')
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$s" "$each" "${med[$s]}" "${cpu[$s]}" "${rss:--}" "$got" "$per" "$rate_ratio" "$cpu_ratio"
		done
		unset med cpu
	done
} | column -t -s $'\t'
