#!/usr/bin/env bash
# Throughput of the syslog input, end to end: COUNT RFC 5424 messages of 200
# bytes sent by bench/syslogload as fast as it can, into the agent's
# syslog input, through the disk queue, into the file output; timed from
# the first message sent to the last line in the output file. Prints, per
# run, messages/s delivered, the agent's CPU time per message (user +
# system, all threads) and, for UDP, what arrived and what the kernel
# dropped at the socket (UDP has no flow control).
#
#   bench/syslog.sh [--rounds N] [--count N] [--modes tcp,tcp-octet,udp]
#       [--rate MSGS-PER-S] [--batch N [--gso]] [--senders N] [AGENT_BINARY...]
#
# Modes: tcp (newline framing), tcp-octet (octet counting, RFC 6587), udp.
# --rate paces the sender (default: as fast as it can); --batch sends UDP
# datagrams N per system call (sendmmsg), so that one sender can outrun the
# agent (default 1, as most senders do); --gso (Linux) sends each batch with
# one send(2) that the kernel cuts into the same datagrams (UDP_SEGMENT), so
# that the sender costs little of the 2 cores the agent also needs: the agent
# receives exactly what it receives from one send per message; --senders N sends from N sockets
# (N connections over TCP) at once, COUNT/N messages each, like the many
# programs that log to one server (default 1).
# With no binary the agent is built from this tree; with several (the
# builds before and after a change) each round runs each in turn, the order
# reversed every other round, so that a machine whose speed wanders treats
# them alike.
set -euo pipefail
ROUNDS=1 COUNT=300000 MODES=tcp,tcp-octet,udp RATE=0 BATCH=1 SENDERS=1 GSO=
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--batch) BATCH=$2; shift 2 ;;
	--senders) SENDERS=$2; shift 2 ;;
	--gso) GSO=-gso; shift ;;
	-h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--*) echo "syslog.sh: unknown flag $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/lfsyslog.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/syslogload" ./bench/syslogload)
if [ $# -eq 0 ]; then
	(cd "$root" && go build -o "$work/logflux-agent" ./cmd/logflux-agent)
	set -- "$work/logflux-agent"
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run() { # run BINARY MODE: one run, one line of figures
	local bin=$1 mode=$2 proto=${2%-octet} port flags=() i
	rm -rf "$work/data" "$work/out.ndjson"
	port=$(free_port)
	cat >"$work/agent.yaml" <<-YAML
		data_dir: $work/data
		admin: {address: "off"}
		queue: {type: disk, when_full: block}
		log: {level: warn}
		outputs:
		  - {type: file, path: $work/out.ndjson, max_size: 64GiB}
		inputs:
		  - {type: syslog, name: bench, address: "$proto://127.0.0.1:$port"}
	YAML
	"$bin" run --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
	pid=$!
	for i in $(seq 200); do
		ss -Hlnut | grep -q ":$port " && break
		sleep 0.05
	done
	[ "$mode" = tcp-octet ] && flags=(-octet-counting)
	"$work/syslogload" -addr "$proto://127.0.0.1:$port" -count "$COUNT" -rate "$RATE" -batch "$BATCH" $GSO -senders "$SENDERS" "${flags[@]}" -wait "$work/out.ndjson" -pid "$pid" >"$work/load.txt" 2>&1 || true
	kill "$pid" 2>/dev/null || true # it may have failed to start
	wait "$pid" 2>/dev/null || true
	pid=
	awk -v bin="$bin" -v mode="$mode" '
		/end to end/ { got = $2; rate = $(NF-4) }
		/per message delivered/ { cpu = $5 }
		/kernel drops/ { drops = $7 }
		END {
			if (rate == "") { printf "%-40s %-9s failed\n", bin, mode; exit }
			printf "%-40s %-9s %9s msgs/s  %6s CPU-µs/msg  %s arrived%s\n", bin, mode, rate, cpu, got, (drops != "" ? ", kernel drops " drops : "")
		}' "$work/load.txt"
}

echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $COUNT messages of 200 bytes, rate ${RATE/#0/unpaced}, UDP batch $BATCH${GSO:+ (one send each, UDP_SEGMENT)}, $SENDERS sender(s)"
IFS=, read -r -a modes <<<"$MODES"
for r in $(seq "$ROUNDS"); do
	bins=("$@")
	if [ $((r % 2)) = 0 ]; then
		rev=()
		for ((i = ${#bins[@]} - 1; i >= 0; i--)); do rev+=("${bins[i]}"); done
		bins=("${rev[@]}")
	fi
	for mode in "${modes[@]}"; do
		for b in "${bins[@]}"; do run "$b" "$mode"; done
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
