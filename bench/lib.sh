# bench/lib.sh: shared by bench/compare.sh and bench/ab.sh (sourced).

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
