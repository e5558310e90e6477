# shellcheck shell=bash disable=SC2034
# Helpers shared by up.sh, down.sh and with.sh. Sourced, never run.
#
# Layout under the checkout (everything the scripts create lives here):
#   var/suilong.env        settings chosen by up.sh (SUILONG_X=value lines)
#   var/run/NAME.pid       pid of a service up.sh started (postgres, influxd, mosquitto)
#   var/run/NAME.owner     who started it: "manual" (plain up.sh) or "with:PID" (a make target)
#   var/run/NAME.users     the make targets using it now; the last one to finish stops it
#   var/run/lock           held while up.sh or down.sh runs, so concurrent make targets take turns
#   var/run/chosen         values up.sh picked itself, so a stale export of them is not taken as an override
#   var/log/*.log          service logs
#   var/pg, var/influxdb, var/mosquitto, var/data   service and application data

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SL_VAR=$SL_ROOT/var
SL_RUN=$SL_VAR/run
SL_LOG=$SL_VAR/log
SL_ENV_FILE=$SL_VAR/suilong.env
SL_PROG=${SL_PROG:-deploy}

say() { printf '%s: %s\n' "$SL_PROG" "$*" >&2; }
warn() { printf '%s: WARNING: %s\n' "$SL_PROG" "$*" >&2; }
die() {
	printf '%s: ERROR: %s\n' "$SL_PROG" "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

# pid_alive PID PATTERN: the process exists and its command line contains PATTERN (guards against pid reuse).
pid_alive() {
	local pid=$1 pat=$2 cmd
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$pat"* ]]
}

# read_pid NAME: the pid recorded in var/run/NAME.pid, or nothing.
read_pid() { [ -s "$SL_RUN/$1.pid" ] && head -n1 "$SL_RUN/$1.pid" | tr -dc '0-9'; }

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT. Bash's /dev/tcp, no other tool needed.
port_in_use() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# pid_listens PID PORT: process PID itself listens on TCP PORT (IPv4), read from /proc: an answer on the port may
# come from another program that took it while PID was still starting.
pid_listens() {
	local hex inode
	hex=$(printf '%04X' "$2")
	for inode in $(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p {print $10}' /proc/net/tcp 2>/dev/null); do
		ls -l "/proc/$1/fd" 2>/dev/null | grep -q "socket:\[$inode\]" && return 0
	done
	return 1
}

# Ports handed out during this run, so two services never get the same free port before either listens.
SL_RESERVED=" "
reserve_port() { SL_RESERVED="$SL_RESERVED$1 "; }

# free_port START: sets FREE_PORT to the first port from START up that nothing listens on and this run has not
# handed out, and reserves it. (Not for $(...): the reservation must outlive the call.)
free_port() {
	local p=$1 end=$(($1 + 500))
	while [ "$p" -lt "$end" ]; do
		if [[ $SL_RESERVED != *" $p "* ]] && ! port_in_use "$p"; then
			reserve_port "$p"
			FREE_PORT=$p
			return 0
		fi
		p=$((p + 1))
	done
	die "no free TCP port on 127.0.0.1 between $1 and $end"
}

# owner_alive OWNER: the make target (or person) that started a service is still around.
owner_alive() {
	case $1 in
	manual) return 0 ;;
	with:*) pid_alive "${1#with:}" with.sh ;;
	*) return 1 ;;
	esac
}

# pg_mode: how the PostgreSQL server tools run for the cluster in var/pg. initdb and postgres refuse to run as
# root, so root runs them either as the postgres user (Debian's package creates it) or, when that user cannot reach
# the checkout (say it lies under /root), in a user namespace as "nobody" mapped onto root: the files stay root's
# and no directory outside the checkout needs opening up. A cluster keeps the mode it was made with.
pg_mode() {
	if ! is_root; then
		echo self
	elif [ -d "$SL_VAR/pg/data" ] && [ "$(stat -c %u "$SL_VAR/pg/data")" = 0 ]; then
		echo userns
	else
		echo pguser
	fi
}

# userns_works: this kernel lets root start a process in a user namespace (util-linux unshare 2.38+).
userns_works() {
	unshare --user --map-user="$(id -u nobody)" --map-group="$(id -g nobody)" -- true 2>/dev/null
}

# owner_alive OWNER: see above.
# users_add NAME OWNER / users_remove NAME OWNER: a make target begins or stops using service NAME.
users_add() {
	[ "$2" = manual ] && return 0
	grep -qxF "$2" "$SL_RUN/$1.users" 2>/dev/null || echo "$2" >>"$SL_RUN/$1.users"
}
users_remove() {
	[ -f "$SL_RUN/$1.users" ] || return 0
	grep -vxF "$2" "$SL_RUN/$1.users" >"$SL_RUN/$1.users.tmp" || true
	mv "$SL_RUN/$1.users.tmp" "$SL_RUN/$1.users"
}
# users_live NAME: the users of NAME still alive (the dead are dropped from the file).
users_live() {
	local u live=""
	[ -f "$SL_RUN/$1.users" ] || return 0
	while IFS= read -r u; do
		if owner_alive "$u"; then live="$live$u"$'\n'; fi
	done <"$SL_RUN/$1.users"
	printf '%s' "$live" >"$SL_RUN/$1.users"
	printf '%s' "$live"
}
forget() { rm -f "$SL_RUN/$1.pid" "$SL_RUN/$1.owner" "$SL_RUN/$1.users"; }

# sl_lock: one up.sh or down.sh at a time in this checkout. Every process they start must close fd 9 (9>&-),
# or it would hold the lock for its whole life.
sl_lock() {
	mkdir -p "$SL_RUN"
	exec 9>"$SL_RUN/lock"
	if ! flock -n 9; then
		say "waiting for another deploy/local script in this checkout to finish"
		flock -w 900 9 || die "var/run/lock has been held for 15 minutes; is an up.sh stuck?"
	fi
}

# as_pg CMD...: run a PostgreSQL server tool as PG_MODE says (pg_mode when unset).
as_pg() {
	case ${PG_MODE:-$(pg_mode)} in
	self) "$@" ;;
	pguser) (cd / && runuser -u postgres -- "$@") ;;
	userns) (cd / && unshare --user --map-user="$(id -u nobody)" --map-group="$(id -g nobody)" -- "$@") ;;
	esac
}

# pg_bin_dir [MAJOR]: the directory with initdb, pg_ctl and postgres (MAJOR preferred, else the newest).
pg_bin_dir() {
	local want=${1:-} d v best="" bestv=""
	if [ -n "$want" ] && [ -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]; then
		echo "/usr/lib/postgresql/$want/bin"
		return 0
	fi
	for d in /usr/lib/postgresql/*/bin; do
		if [ ! -x "$d/initdb" ] || [ ! -x "$d/pg_ctl" ] || [ ! -x "$d/postgres" ]; then continue; fi
		v=$(basename "$(dirname "$d")")
		if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$bestv" "$v" | sort -V | tail -n1)" = "$v" ]; then
			best=$d
			bestv=$v
		fi
	done
	if [ -z "$best" ] && have initdb && have pg_ctl; then
		best=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
	fi
	[ -n "$best" ] && echo "$best"
}

# apt_install PKG...: Debian packages, as root only. Retries after `apt-get update` when the lists are stale or
# missing. Output goes to var/log/apt.log.
apt_install() {
	is_root || return 1
	have apt-get || return 1
	mkdir -p "$SL_LOG"
	say "installing Debian packages: $* (log: var/log/apt.log)"
	local apt=(apt-get -o DPkg::Lock::Timeout=300 -y)
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >>"$SL_LOG/apt.log" 2>&1 9>&-; then
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >>"$SL_LOG/apt.log" 2>&1 9>&- || true
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >>"$SL_LOG/apt.log" 2>&1 9>&- || {
			tail -n 20 "$SL_LOG/apt.log" >&2
			return 1
		}
	fi
}

# env_get FILE NAME: the value of NAME=... in an env file written by up.sh (quotes removed), or nothing.
env_get() {
	[ -f "$1" ] || return 0
	local line
	line=$(grep -E "^$2=" "$1" | tail -n1) || return 0
	line=${line#*=}
	line=${line#\'}
	line=${line%\'}
	printf '%s' "$line"
}
