# bench/lib.sh: shared by bench/compare.sh, bench/compare-io.sh and bench/ab.sh (sourced).

# agent_config DIR QUEUE [ADMIN-OFF]: the agent's configuration for a
# benchmark run in DIR: a Unix socket, QUEUE (disk or memory) blocking when
# full, one file output that never rotates, warnings only, and with a third
# argument the admin server off (so a run neither serves nor collides on the
# default admin port).
agent_config() {
	cat <<-EOF
		data_dir: $1/data
		unix:
		  path: $1/in.sock
		queue:
		  type: $2
		  when_full: block
		outputs:
		  - type: file
		    path: $1/out.ndjson
		    max_size: 64GiB
		log:
		  level: warn
	EOF
	[ -z "${3:-}" ] || printf 'admin:\n  address: ""\n'
}

# stop_pid PID: SIGTERM, then SIGKILL after 15 s.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# forget_pid PID: drop PID from the caller's PIDS, the processes it still has
# to stop on exit.
forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# cleanup: stop what is left in PIDS and remove WORK unless KEEP=1 (an EXIT trap).
cleanup() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}

# start_daemon DIR READY-PATH COMMAND...: start COMMAND in the background with
# its output in DIR/daemon.log, set DAEMON_PID, and wait for READY-PATH (its
# socket) to appear; with READY-PATH "" return at once. Returns 1, with its
# log, if it exits first or does not come up within 15 s. Uses the caller's log().
start_daemon() {
	local dir=$1 ready=$2 i
	shift 2
	"$@" >"$dir/daemon.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	[ -n "$ready" ] || return 0
	for i in $(seq 300); do
		[ -e "$ready" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	log "it did not come up; its log:"
	sed 's/^/    /' "$dir/daemon.log" >&2
	stop_daemon
	return 1
}
stop_daemon() { # the daemon start_daemon started last
	stop_pid "$DAEMON_PID"
	forget_pid "$DAEMON_PID"
}
