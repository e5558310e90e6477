#!/usr/bin/env bash
# deploy/local/with.sh [--test] [--check-leaks] [--quiet] -- COMMAND [ARGS...]
#
# What the make targets run: brings the services up (up.sh), runs COMMAND with var/suilong.env exported, then
# always stops what this call started (down.sh --owner), even when COMMAND fails or is interrupted, and exits with
# COMMAND's status. Services that were already running before are left as they were.
#
# --test          up.sh --test (Mosquitto for the external-broker tests, Chromium for the page tests)
# --check-leaks   afterwards, fail if a process that COMMAND started is still alive (and end it)
# --quiet         down.sh prints only problems, so COMMAND's own last lines stay last

set -uo pipefail
SL_PROG=with
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

UP_ARGS=()
CHECK=0
QUIET=()
while [ $# -gt 0 ]; do
	case $1 in
	--test) UP_ARGS+=(--test) ;;
	--check-leaks) CHECK=1 ;;
	--quiet) QUIET=(--quiet) ;;
	--)
		shift
		break
		;;
	-h | --help)
		sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || die "no command given (try --help)"

OWNER="with:$$"

# descendants PID: every live process below PID.
descendants() {
	ps -eo pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = split(kids[root], q, " ")
			for (i = 1; i <= n; i++) {
				print q[i]
				m = split(kids[q[i]], more, " ")
				for (j = 1; j <= m; j++) q[++n] = more[j]
			}
		}'
}

# leaked: processes that did not exist before we began, are ours (below us, or orphaned to pid 1 since) and look
# like something a test starts. Services that someone else owns and still runs are excluded.
leaked() {
	local keep="" f self
	self=$(tr '\0' ' ' </proc/$$/cmdline)
	for f in "$SL_RUN"/*.pid; do [ -f "$f" ] && keep="$keep $(head -n1 "$f")"; done
	# Strings go through the environment: awk -v would interpret backslashes in them.
	ps -eo pid=,ppid=,args= | L_BEFORE=" $BEFORE " L_KEEP=" $keep " L_MINE=" $(descendants $$ | tr '\n' ' ') " \
		L_ROOT="$SL_ROOT/" L_SELF="$self" awk -v me=$$ '
		BEGIN {
			before = ENVIRON["L_BEFORE"]; keep = ENVIRON["L_KEEP"]; mine = ENVIRON["L_MINE"]
			root = ENVIRON["L_ROOT"]; self = ENVIRON["L_SELF"]
		}
		{
			pid = $1; ppid = $2
			args = $0; sub(/^ *[0-9]+ +[0-9]+ +/, "", args)
			if (index(before, " " pid " ") || index(keep, " " pid " ") || pid == me) next
			if (!(ppid == 1 || index(mine, " " pid " "))) next
			split(args, w, " "); n = split(w[1], base, "/"); prog = base[n]
			if (prog == "ps" || prog == "awk" || prog == "tr" || args " " == self || args == self) next
			# The services another checkout started meanwhile with its own scripts are orphans too: they name
			# that checkout (its bin/tools or var), not this one.
			other = !index(args, root) && args ~ /\/(bin\/tools|var)\//
			if (index(args, root) || (!other && (prog ~ /^(influxd|postgres|mosquitto|chromium|chrome|chrome_crashpad_handler|suilong)$/ || prog ~ /\.test$/)))
				print pid " " args
		}'
}

status=0
BEFORE=$(ps -eo pid= | tr -s ' \n' '  ')

# A Ctrl-C while the services come up ends up.sh (it has the terminal too); then stop what it had started.
interrupted=0
trap 'interrupted=1' INT TERM HUP
if ! "$HERE/up.sh" "${UP_ARGS[@]}" --owner "$OWNER" || [ "$interrupted" = 1 ]; then
	"$HERE/down.sh" --owner "$OWNER" --quiet
	[ "$interrupted" = 1 ] && die "interrupted while the services came up; stopped what had started"
	die "the services did not come up (messages above); nothing was run"
fi
set -a
# shellcheck disable=SC1090,SC1091
. "$SL_ENV_FILE"
set +a

# COMMAND runs in the background so this script can pass on SIGTERM (a CI timeout, say) to everything below it.
# A Ctrl-C in the terminal reaches COMMAND directly: it is in our process group. Bash starts background commands
# with SIGINT ignored; env --default-signal gives it back.
if env --default-signal=INT true 2>/dev/null; then
	env --default-signal=INT "$@" &
	child=$!
	# shellcheck disable=SC2317 # called by the trap
	forward() {
		local p
		for p in $(descendants $$); do kill -TERM "$p" 2>/dev/null; done
	}
	trap ':' INT
	trap 'forward' TERM HUP
	while :; do
		wait "$child"
		status=$?
		kill -0 "$child" 2>/dev/null || break
	done
	trap - TERM HUP
else
	trap ':' INT
	"$@"
	status=$?
fi

if ! "$HERE/down.sh" --owner "$OWNER" "${QUIET[@]}"; then
	[ "$status" = 0 ] && status=1
fi

if [ "$CHECK" = 1 ]; then
	left=""
	for _ in $(seq 1 20); do
		left=$(leaked)
		[ -z "$left" ] && break
		sleep 0.5
	done
	if [ -n "$left" ]; then
		printf '%s: ERROR: these processes started during the run are still alive; ending them:\n%s\n' "$SL_PROG" "$left" >&2
		# shellcheck disable=SC2013 # one pid per line
		for p in $(awk '{print $1}' <<<"$left"); do kill -TERM "$p" 2>/dev/null; done
		sleep 2
		# shellcheck disable=SC2013
		for p in $(awk '{print $1}' <<<"$left"); do kill -KILL "$p" 2>/dev/null; done
		[ "$status" = 0 ] && status=1
	fi
fi
exit "$status"
