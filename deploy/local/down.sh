#!/usr/bin/env bash
# deploy/local/down.sh [--owner ID] [--quiet]
#
# Stops the services deploy/local/up.sh started (the pid files under var/run), waits until they have exited and
# leaves their data under var/. Services up.sh merely reused (the system PostgreSQL, a Mosquitto on 1883, an
# external InfluxDB) are never touched. Safe to run any number of times.
#
# --owner ID   stop only what the make target ID started (or what nobody alive owns any more); without it,
#              stop everything up.sh started.
# --quiet      print only problems.

set -euo pipefail
SL_PROG=down
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OWNER=""
QUIET=0
while [ $# -gt 0 ]; do
	case $1 in
	--owner)
		OWNER=${2:?--owner needs a value}
		shift
		;;
	--quiet) QUIET=1 ;;
	-h | --help)
		sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
	shift
done

# A second Ctrl-C while stopping must not leave half the services running; every wait below is bounded.
trap '' INT

info() { if [ "$QUIET" = 0 ]; then say "$@"; fi; }

# mine NAME: this call may stop service NAME now. With --owner, OWNER stops using it; it is stopped when OWNER
# started it (or its starter is gone) and no other make target still uses it, in which case one of those inherits
# it and the last to finish stops it.
mine() {
	[ -n "$OWNER" ] || return 0
	local o="" live
	[ -f "$SL_RUN/$1.owner" ] && o=$(cat "$SL_RUN/$1.owner")
	users_remove "$1" "$OWNER"
	live=$(users_live "$1")
	if [ "$o" = "$OWNER" ] || [ -z "$o" ] || ! owner_alive "$o"; then
		if [ -n "$live" ]; then
			head -n1 <<<"$live" >"$SL_RUN/$1.owner"
			info "leaving $1 running: $(head -n1 <<<"$live") still uses it"
			return 1
		fi
		return 0
	fi
	info "leaving $1 running: it was started by $o"
	return 1
}

# wait_gone PID SECONDS
wait_gone() {
	for _ in $(seq 1 $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# stop_proc NAME PATTERN: SIGTERM, up to 30 s for a clean exit, then SIGKILL.
stop_proc() {
	local name=$1 pat=$2 pid
	pid=$(read_pid "$name" || true)
	[ -n "$pid" ] || return 0
	mine "$name" || return 0
	if pid_alive "$pid" "$pat"; then
		info "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 30; then
			warn "$name (pid $pid) did not exit within 30 s of SIGTERM; killing it (see var/log/$name.log)"
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 5 || warn "$name (pid $pid) survived SIGKILL"
		fi
	fi
	forget "$name"
}

stop_postgres() {
	local pid data=$SL_VAR/pg/data bin ver=""
	pid=$(read_pid postgres || true)
	[ -n "$pid" ] || return 0
	mine postgres || return 0
	if pid_alive "$pid" postgres; then
		info "stopping PostgreSQL (pid $pid)"
		[ -s "$data/PG_VERSION" ] && ver=$(cat "$data/PG_VERSION")
		bin=$(pg_bin_dir "$ver" || true)
		if [ -z "$bin" ] || ! as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 9>&-; then
			# pg_ctl missing or stuck: the postmaster shuts down fast on SIGINT.
			kill -INT "$pid" 2>/dev/null || true
			if ! wait_gone "$pid" 30; then
				warn "PostgreSQL (pid $pid) did not stop within 30 s; killing it (see var/log/postgres.log)"
				kill -KILL "$pid" 2>/dev/null || true
				wait_gone "$pid" 5 || true
			fi
		fi
	fi
	forget postgres
}

[ -d "$SL_RUN" ] || exit 0
sl_lock
stop_proc mosquitto mosquitto
stop_proc influxd influxd
stop_postgres
