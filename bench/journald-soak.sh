#!/bin/sh
# journald-soak.sh: kill -9 the agent at random moments while its journald
# input follows a growing journal, restart it each time, and check that
# every journal entry reached the file output, and how many were read twice.
#
# The journal is a fake journalctl (tail -f over a JSON file that a writer
# grows, honouring --after-cursor), so this needs no systemd. Usage:
#   bench/journald-soak.sh [kills] [entries]      (defaults: 20 kills, 20000 entries)
# Prints: written, delivered (distinct entries), missing, read twice by the
# input (same entry, different record id), delivered twice by the output
# (same record id; the disk queue's at-least-once redelivery).
set -eu
KILLS=${1:-20}
N=${2:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/journald-soak.XXXXXX)
WRITER=
trap 'kill $(cat "$W/agent.pid" "$W/journalctl.pid" 2>/dev/null) $WRITER 2>/dev/null || true; wait 2>/dev/null; rm -rf "$W"' EXIT

go build -o "$W/logflux-agent" "$ROOT/cmd/logflux-agent"

cat > "$W/journalctl" <<EOF
#!/bin/sh
cursor=""
for a in "\$@"; do case "\$a" in --after-cursor=*) cursor="\${a#--after-cursor=}";; esac; done
start=1
if [ -n "\$cursor" ]; then
  n=\$(grep -n -F "\"__CURSOR\":\"\$cursor\"" "$W/journal.jsonl" | cut -d: -f1)
  [ -n "\$n" ] || { echo "cursor \$cursor not found" >&2; exit 1; }
  start=\$((n+1))
fi
echo \$\$ > "$W/journalctl.pid"
exec tail -n +\$start -f "$W/journal.jsonl"
EOF
chmod +x "$W/journalctl"
: > "$W/journal.jsonl"

cat > "$W/agent.yaml" <<EOF
data_dir: $W/data
unix: {path: $W/agent.sock}
admin: {address: 127.0.0.1:0}
outputs:
  - {type: file, name: out, path: $W/data/out.ndjson}
inputs:
  - {type: journald, name: journal, journalctl_path: $W/journalctl, since: "2000-01-01", restart_delay: 100ms}
EOF

start_agent() {
	"$W/logflux-agent" run --config "$W/agent.yaml" >> "$W/agent.log" 2>&1 &
	echo $! > "$W/agent.pid"
}

# The writer: N entries in blocks of 50 every 20 ms.
(
	i=0
	while [ $i -lt "$N" ]; do
		awk -v from=$((i + 1)) -v to=$((i + 50)) -v n="$N" 'BEGIN { for (k = from; k <= to && k <= n; k++)
			printf "{\"__CURSOR\":\"s=soak;i=%x\",\"__REALTIME_TIMESTAMP\":\"%d\",\"PRIORITY\":\"6\",\"SYSLOG_IDENTIFIER\":\"soak\",\"MESSAGE\":\"entry %d\"}\n", k, 1700000000000000 + k, k }' >> "$W/journal.jsonl"
		i=$((i + 50))
		sleep 0.02
	done
) &
WRITER=$!

start_agent
k=0
while [ $k -lt "$KILLS" ]; do
	sleep "$(awk -v s=$$ -v k=$k 'BEGIN { srand(s + k); printf "%.2f", 0.2 + rand() * 0.6 }')"
	kill -9 "$(cat "$W/agent.pid")" 2>/dev/null || true
	wait "$(cat "$W/agent.pid")" 2>/dev/null || true
	# In production journalctl dies with the agent (systemd KillMode=control-group).
	kill -9 "$(cat "$W/journalctl.pid" 2>/dev/null)" 2>/dev/null || true
	k=$((k + 1))
	start_agent
done
wait $WRITER
# Let the last agent catch up, then stop it cleanly.
for _ in $(seq 1 200); do
	[ "$(grep -c '"payload":"entry ' "$W/data/out.ndjson" 2>/dev/null || echo 0)" -ge "$N" ] && break
	sleep 0.1
done
kill "$(cat "$W/agent.pid")"; wait "$(cat "$W/agent.pid")" 2>/dev/null || true
kill "$(cat "$W/journalctl.pid" 2>/dev/null)" 2>/dev/null || true

python3 - "$W/data/out.ndjson" "$N" "$KILLS" <<'EOF'
import json, sys
path, n, kills = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ids_by_entry, ids = {}, {}
for line in open(path):
    r = json.loads(line)
    ids[r["id"]] = ids.get(r["id"], 0) + 1
    ids_by_entry.setdefault(r["payload"], set()).add(r["id"])
missing = [i for i in range(1, n + 1) if "entry %d" % i not in ids_by_entry]
reread = sum(len(s) - 1 for s in ids_by_entry.values())
redelivered = sum(c - 1 for c in ids.values())
print("kills %s  written %d  delivered %d  missing %d  read twice by the input %d  delivered twice by the output %d"
      % (kills, n, len(ids_by_entry), len(missing), reread, redelivered))
sys.exit(1 if missing else 0)
EOF
