#!/bin/sh
# Throughput of the file input: one file of 200-byte lines read from the
# beginning into the file output through the disk queue, by the real agent.
# Prints lines/s from the agent's start to the last line in the output, and
# the agent's CPU seconds per million lines.
#
#   bench/file-input.sh [MiB]      (default 256)
#
# The same workload beside Fluent Bit's tail input, in interleaved rounds:
# FLUENT_BIT=/path/to/fluent-bit bench/compare-io.sh --only tail (see
# docs/benchmarks.md).
set -eu
MIB=${1:-256}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/logflux-agent" "$root/cmd/logflux-agent"
lines=$((MIB * 1024 * 1024 / 200))
# 199 characters and a newline; each line differs.
awk -v n="$lines" 'BEGIN { pad = sprintf("%*s", 180, ""); gsub(/ /, "x", pad); for (i = 0; i < n; i++) printf "%09d %s\n", i, substr(pad, 1, 189) }' > "$work/big.log"
cat > "$work/agent.yaml" <<YAML
data_dir: $work/data
admin: {address: "off"}
queue: {type: disk, max_bytes: 256MiB, when_full: block}
outputs:
  - {type: file, path: $work/out/entries.ndjson, max_size: 64GiB}
inputs:
  - {type: file, name: big, include: ["$work/big.log"], start_at: beginning}
YAML
start=$(date +%s.%N)
"$work/logflux-agent" run --config "$work/agent.yaml" --unix-path "$work/agent.sock" 2>"$work/agent.log" &
pid=$!
while :; do
  n=$(cat "$work"/out/entries.ndjson* 2>/dev/null | wc -l)
  [ "$n" -ge "$lines" ] && break
  sleep 0.2
done
end=$(date +%s.%N)
cpu=$(awk '{print ($14 + $15) / 100}' /proc/$pid/stat)
awk -v n="$lines" -v s="$start" -v e="$end" -v c="$cpu" -v mib="$MIB" 'BEGIN {
  t = e - s; printf "file input: %d MiB, %d lines in %.2f s: %.0f lines/s, %.1f MiB/s; agent CPU %.2f s (%.2f s per million lines)\n", mib, n, t, n / t, mib / t, c, c * 1e6 / n }'
