#!/bin/sh
# Throughput of the file input: one file of 200-byte lines read from the
# beginning into the file output through the disk queue, by the real agent.
# Prints lines/s from the agent's start to the last line in the output, and
# the agent's CPU seconds (user + system, all threads) per million lines.
#
#   bench/file-input.sh [--rounds N] [MiB] [AGENT_BINARY...]
#
# With no binary, the agent is built from this tree. With several (say the
# builds before and after a change), each round runs each of them in turn on
# the same file, so that a machine whose speed wanders treats them alike.
# MiB defaults to 256, rounds to 1.
#
# The same workload beside Fluent Bit's tail input, in interleaved rounds:
# FLUENT_BIT=/path/to/fluent-bit bench/compare-io.sh --only tail (see
# docs/benchmarks.md).
set -eu
ROUNDS=1
if [ "${1:-}" = "--rounds" ]; then ROUNDS=$2; shift 2; fi
MIB=${1:-256}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; rm -rf "$work"' EXIT
if [ $# -eq 0 ]; then
  go build -o "$work/logflux-agent" "$root/cmd/logflux-agent"
  set -- "$work/logflux-agent"
fi
lines=$((MIB * 1024 * 1024 / 200))
# 199 characters and a newline; each line differs.
awk -v n="$lines" 'BEGIN { pad = sprintf("%*s", 180, ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%09d %s\n", i, substr(pad, 1, 189) }' > "$work/big.log"
last=$(printf '"payload":"%09d ' $((lines - 1)))

run() { # run BINARY: one run, one line of figures
  rm -rf "$work/data" "$work/out"
  cat > "$work/agent.yaml" <<YAML
data_dir: $work/data
admin: {address: "off"}
queue: {type: disk, max_bytes: 256MiB, when_full: block}
outputs:
  - {type: file, path: $work/out/entries.ndjson, max_size: 64GiB}
inputs:
  - {type: file, name: big, include: ["$work/big.log"], start_at: beginning}
YAML
  sync # the last run's dirty pages are not written back during this one
  start=$(date +%s.%N)
  LOGFLUX_CPUPROFILE=${CPUPROFILE:-} "$1" run --config "$work/agent.yaml" --unix-path "$work/agent.sock" 2>"$work/agent.log" &
  pid=$!
  # The lines come out in order: the run is over when the last one is there.
  # (Only the output's tail is read, so the watching costs next to nothing.)
  until tail -c 4096 "$work/out/entries.ndjson" 2>/dev/null | grep -q "$last"; do
    kill -0 $pid 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
    sleep 0.05
  done
  end=$(date +%s.%N)
  cpu=$(awk '{print $14 / 100, $15 / 100}' /proc/$pid/stat) # user, system
  kill $pid; wait $pid 2>/dev/null || true; pid=
  n=$(wc -l < "$work/out/entries.ndjson")
  [ "$n" -eq "$lines" ] || { echo "$1: $n lines in the output, want $lines" >&2; exit 1; }
  awk -v b="$1" -v n="$lines" -v s="$start" -v e="$end" -v cpu="$cpu" -v mib="$MIB" 'BEGIN {
    split(cpu, c, " "); t = e - s; all = c[1] + c[2]
    printf "%s: %d MiB, %d lines in %.2f s: %.0f lines/s, %.1f MiB/s; agent CPU %.2f s (user %.2f, system %.2f): %.2f s per million lines\n", b, mib, n, t, n / t, mib / t, all, c[1], c[2], all * 1e6 / n }'
}

for round in $(seq "$ROUNDS"); do
  for b in "$@"; do run "$b"; done
done
