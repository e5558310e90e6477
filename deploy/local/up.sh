#!/usr/bin/env bash
# deploy/local/up.sh [--test] [--owner ID]
#
# Makes sure PostgreSQL and InfluxDB answer (reusing what already runs, starting the rest under ./var), picks the
# addresses suilong will listen on, and writes them to ./var/suilong.env. With --test it also makes sure of what
# the test suite needs beyond that: a Mosquitto broker for the external-broker tests and Debian's Chromium.
# Idempotent: a second run reuses what the first started. deploy/local/down.sh stops what it started.
#
# Run it, or source it (`. deploy/local/up.sh`) to also get the SUILONG_* variables exported in your shell.
# deploy/README.md lists every variable it writes and every override it reads.

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
	# Sourced: do the work in a child so that a failure cannot end the caller's shell, then export the result.
	if bash "${BASH_SOURCE[0]}" "$@"; then
		set -a
		# shellcheck disable=SC1091
		. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/var/suilong.env"
		set +a
		return 0
	fi
	return 1
fi

set -euo pipefail
SL_PROG=up
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INFLUXD_VERSION=v1.8.10
# Seconds to wait for a service to answer. Idle, each takes a few; on a loaded machine influxd alone has taken 50.
WAIT=${SUILONG_LOCAL_TIMEOUT:-120}
[[ $WAIT =~ ^[0-9]+$ ]] || die "SUILONG_LOCAL_TIMEOUT must be a number of seconds"
TEST=0
OWNER=manual
while [ $# -gt 0 ]; do
	case $1 in
	--test) TEST=1 ;;
	--owner)
		OWNER=${2:?--owner needs a value}
		shift
		;;
	-h | --help)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $1 (try --help)" ;;
	esac
	shift
done

mkdir -p "$SL_VAR" "$SL_RUN" "$SL_LOG" "$SL_VAR/data"
sl_lock
# The postgres user runs our throwaway cluster and must be able to walk into var/.
chmod 755 "$SL_VAR"

# A shell that sourced up.sh earlier still exports what up.sh chose then (say the port of a cluster since
# stopped). Such a value is not an override; only values the user set themselves are. var/run/chosen holds
# every value up.sh ever picked.
if [ -f "$SL_RUN/chosen" ]; then
	while IFS= read -r line; do
		k=${line%%=*}
		[[ $k =~ ^SUILONG_[A-Z0-9_]+$ ]] || continue
		if [ "${!k-}" = "${line#*=}" ]; then unset "$k"; fi
	done <"$SL_RUN/chosen"
fi

declare -A OUT=()    # variable -> value, written to var/suilong.env
declare -A CHOSEN=() # the subset up.sh picked itself
ORDER=()
setv() { # setv NAME VALUE [chosen]
	[ -n "${OUT[$1]+x}" ] || ORDER+=("$1")
	OUT[$1]=$2
	if [ "${3:-}" = chosen ]; then CHOSEN[$1]=$2; else unset "CHOSEN[$1]"; fi
}

# claim NAME PID: record a service this run started, so down.sh can stop it.
claim() {
	echo "$2" >"$SL_RUN/$1.pid"
	echo "$OWNER" >"$SL_RUN/$1.owner"
	: >"$SL_RUN/$1.users"
	users_add "$1" "$OWNER"
}
# adopt NAME: we use a service that runs already. If whoever started it is gone (a killed `make run`, say), it
# becomes ours to stop.
adopt() {
	local o=""
	[ -f "$SL_RUN/$1.owner" ] && o=$(cat "$SL_RUN/$1.owner")
	if [ -z "$o" ] || ! owner_alive "$o"; then echo "$OWNER" >"$SL_RUN/$1.owner"; fi
	users_add "$1" "$OWNER"
}

# suilong_serving: a `suilong serve` from this checkout runs now (then its addresses must stay as they are).
suilong_serving() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$SL_ROOT/bin/suilong"* ]] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qw serve && return 0
	done
	return 1
}

need_curl() {
	have curl && return 0
	if is_root; then
		apt_install curl || die "could not install curl (see var/log/apt.log)"
	else
		die "curl is not installed; install it with: sudo apt-get install -y curl"
	fi
}

# ---------------------------------------------------------------- PostgreSQL

PG_DATA=$SL_VAR/pg/data

pg_url() { echo "postgres://postgres@127.0.0.1:$1/${2:-postgres}?sslmode=disable"; }

# pg_own_db PORT: make sure the server on PORT has Suilong's own database (never the postgres maintenance
# database, which other programs share), and print its URL. Tests create their own databases beside it.
pg_own_db() {
	local psql admin
	psql=$(command -v psql || true)
	[ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/psql" ] && psql=$PG_BIN/psql
	admin=$(pg_url "$1")
	if [ "$(PGCONNECT_TIMEOUT=5 "$psql" "$admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'suilong'" 2>/dev/null)" != 1 ]; then
		PGCONNECT_TIMEOUT=5 "$psql" "$admin" -qc 'CREATE DATABASE suilong' >/dev/null 2>&1 ||
			[ "$(PGCONNECT_TIMEOUT=5 "$psql" "$admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'suilong'" 2>/dev/null)" = 1 ] ||
			die "could not create the database suilong on 127.0.0.1:$1"
		say "PostgreSQL: created the database suilong"
	fi
	pg_url "$1" suilong
}

# pg_login URL: a trust login works (psql from the server's bin dir or PATH).
pg_login() {
	local psql
	psql=$(command -v psql || true)
	[ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/psql" ] && psql=$PG_BIN/psql
	[ -n "$psql" ] || return 2
	PGCONNECT_TIMEOUT=5 "$psql" "$1" -Atqc 'select 1' >/dev/null 2>&1
}

# pg_blocking_dir: the first directory on the way to var/pg that the postgres user cannot enter.
pg_blocking_dir() {
	local d="" part
	IFS=/ read -r -a parts <<<"${SL_VAR#/}"
	for part in "${parts[@]}"; do
		d="$d/$part"
		as_pg test -x "$d" 2>/dev/null || {
			echo "$d"
			return 0
		}
	done
}

start_own_pg() {
	local ver="" port sock sockopt log=$SL_LOG/postgres.log pid prev
	[ -s "$PG_DATA/PG_VERSION" ] && ver=$(cat "$PG_DATA/PG_VERSION")
	PG_BIN=$(pg_bin_dir "$ver" || true)
	if [ -z "$PG_BIN" ]; then
		if is_root; then
			apt_install postgresql || die "could not install Debian's postgresql package (see var/log/apt.log)"
			PG_BIN=$(pg_bin_dir "$ver" || true)
		fi
		[ -n "$PG_BIN" ] || die "no PostgreSQL answers at 127.0.0.1:5432 and no PostgreSQL server binaries (initdb, pg_ctl, postgres) are installed.
  Install them:            sudo apt-get install -y postgresql
  or use a server you have: export SUILONG_DATABASE_URL=postgres://user:password@host:5432/db?sslmode=disable"
	fi
	if [ -n "$ver" ] && [ "$("$PG_BIN/pg_ctl" --version | grep -oE '[0-9]+' | head -n1)" != "$ver" ]; then
		die "var/pg/data was made by PostgreSQL $ver, but only $PG_BIN is installed; remove var/pg (or run make clean) to start afresh"
	fi

	PG_MODE=$(pg_mode)
	mkdir -p "$SL_VAR/pg"
	chmod 700 "$SL_VAR/pg"
	if [ "$PG_MODE" = pguser ]; then
		have runuser || die "runuser (util-linux) is needed to run PostgreSQL as the postgres user"
		if ! getent passwd postgres >/dev/null; then
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres ||
				die "could not create the postgres user that runs the cluster"
		fi
		chown postgres: "$SL_VAR/pg"
		if ! as_pg test -w "$SL_VAR/pg"; then
			local b
			b=$(pg_blocking_dir)
			if [ ! -e "$PG_DATA" ] && userns_works; then
				say "PostgreSQL: the postgres user cannot enter ${b:-var/pg}; running the cluster in a user namespace instead"
				PG_MODE=userns
				chown root: "$SL_VAR/pg"
			else
				die "PostgreSQL refuses to run as root, so the cluster runs as the postgres user, which cannot enter ${b:-$SL_VAR/pg}.
  Either allow it (chmod o+x ${b:-$SL_VAR}), move the checkout somewhere it can reach,
  or point at a server you have: export SUILONG_DATABASE_URL=postgres://..."
			fi
		fi
	fi
	sock=$SL_VAR/pg/sock
	as_pg mkdir -p "$sock"
	touch "$log"
	if [ "$PG_MODE" = pguser ]; then chown postgres: "$log"; fi

	if [ ! -s "$PG_DATA/PG_VERSION" ]; then
		say "PostgreSQL: creating a throwaway cluster in var/pg/data with $PG_BIN/initdb"
		as_pg rm -rf "$PG_DATA"
		as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >>"$log" 2>&1 ||
			die "initdb failed; see var/log/postgres.log"
		# Local development and tests only: durability is traded for speed (every test creates a database).
		as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<-EOF

			# Added by deploy/local/up.sh: a throwaway cluster for development and tests.
			listen_addresses = '127.0.0.1'
			max_connections = 200
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
	fi

	if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
		port=$(sed -n 4p "$PG_DATA/postmaster.pid")
		say "PostgreSQL: reusing the cluster in var/pg/data on port $port"
		pid=$(head -n1 "$PG_DATA/postmaster.pid")
		if [ "$(read_pid postgres)" = "$pid" ]; then adopt postgres; else claim postgres "$pid"; fi
	else
		prev=$(cat "$SL_RUN/pg.port" 2>/dev/null || true)
		if [[ $prev =~ ^[0-9]+$ ]] && ! port_in_use "$prev"; then port=$prev; else free_port 5433 && port=$FREE_PORT; fi
		reserve_port "$port"
		# A unix socket path may not exceed 107 bytes; a deep checkout then speaks TCP only.
		sockopt=$sock
		[ ${#sock} -gt 90 ] && sockopt=""
		say "PostgreSQL: starting the cluster in var/pg/data on 127.0.0.1:$port (log: var/log/postgres.log)"
		if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$log" -w -t "$WAIT" -o "-p $port -k '$sockopt'" start >/dev/null 2>&1 9>&-; then
			tail -n 15 "$log" >&2 || true
			die "PostgreSQL did not start within $WAIT s; see var/log/postgres.log"
		fi
		claim postgres "$(head -n1 "$PG_DATA/postmaster.pid")"
	fi
	echo "$port" >"$SL_RUN/pg.port"
	DATABASE_URL=$(pg_url "$port")
	local deadline=$((SECONDS + WAIT))
	until pg_login "$DATABASE_URL"; do
		[ "$SECONDS" -ge "$deadline" ] && die "PostgreSQL runs on port $port but psql cannot log in as postgres; see var/log/postgres.log"
		sleep 0.5
	done
	DATABASE_URL=$(pg_own_db "$port") || exit 1
	setv SUILONG_DATABASE_URL "$DATABASE_URL" chosen
}

ensure_postgres() {
	local force=${SUILONG_LOCAL_FORCE_OWN_PG:-0}
	if [ -n "${SUILONG_DATABASE_URL:-}" ] && [ "$force" != 1 ]; then
		say "PostgreSQL: using SUILONG_DATABASE_URL from the environment"
		setv SUILONG_DATABASE_URL "$SUILONG_DATABASE_URL"
		return 0
	fi
	# Our own cluster, when it already runs, keeps serving: the data of `make run` lives there.
	if [ -s "$PG_DATA/postmaster.pid" ] && pid_alive "$(head -n1 "$PG_DATA/postmaster.pid")" postgres; then
		start_own_pg
		return 0
	fi
	if [ "$force" != 1 ]; then
		local url answers=0
		url=$(pg_url 5432)
		if have pg_isready; then
			pg_isready -q -h 127.0.0.1 -p 5432 -t 3 && answers=1
		elif port_in_use 5432; then
			answers=1
		fi
		if [ "$answers" = 1 ]; then
			if ! have psql && is_root; then apt_install postgresql-client || true; fi
			local rc=0
			pg_login "$url" || rc=$?
			if [ "$rc" = 0 ]; then
				url=$(pg_own_db 5432) || exit 1
				say "PostgreSQL: using the server at 127.0.0.1:5432 (user postgres, trust), database suilong"
				setv SUILONG_DATABASE_URL "$url" chosen
				return 0
			elif [ "$rc" = 2 ]; then
				say "PostgreSQL: 127.0.0.1:5432 answers, but without psql (sudo apt-get install -y postgresql-client) it cannot be checked; starting our own cluster"
			else
				say "PostgreSQL: 127.0.0.1:5432 answers but does not let postgres log in without a password; starting our own cluster"
			fi
		fi
	else
		say "PostgreSQL: SUILONG_LOCAL_FORCE_OWN_PG=1, using our own cluster"
	fi
	start_own_pg
}

# ---------------------------------------------------------------- InfluxDB

INFLUXD_BIN=$SL_ROOT/bin/tools/influxd

ensure_influxd_bin() {
	if [ -n "${SUILONG_INFLUXD_BIN:-}" ] && [ "$SUILONG_INFLUXD_BIN" != "$INFLUXD_BIN" ]; then
		[ -x "$SUILONG_INFLUXD_BIN" ] || die "SUILONG_INFLUXD_BIN=$SUILONG_INFLUXD_BIN is not an executable file"
		INFLUXD_BIN=$SUILONG_INFLUXD_BIN
		setv SUILONG_INFLUXD_BIN "$INFLUXD_BIN"
		return 0
	fi
	if [ ! -x "$INFLUXD_BIN" ]; then
		have go || die "Go is needed to build influxd (go install github.com/influxdata/influxdb/cmd/influxd@$INFLUXD_VERSION)"
		say "InfluxDB: building influxd $INFLUXD_VERSION into bin/tools/ (once; takes 1-2 minutes; log: var/log/influxd-build.log)"
		local t0=$SECONDS
		mkdir -p "$SL_ROOT/bin/tools"
		if ! (cd "$SL_ROOT/bin/tools" && GOBIN="$SL_ROOT/bin/tools" GOFLAGS="" \
			go install "github.com/influxdata/influxdb/cmd/influxd@$INFLUXD_VERSION") >"$SL_LOG/influxd-build.log" 2>&1; then
			tail -n 20 "$SL_LOG/influxd-build.log" >&2 || true
			die "building influxd failed; see var/log/influxd-build.log"
		fi
		say "InfluxDB: built bin/tools/influxd in $((SECONDS - t0)) s"
	fi
	setv SUILONG_INFLUXD_BIN "$INFLUXD_BIN" chosen
}

influx_ping() { curl -fsS -m 3 -o /dev/null "$1/ping" 2>/dev/null; }

# wait_influx URL PID: up to WAIT seconds for PID to answer /ping, giving up early when the process dies.
wait_influx() {
	local deadline=$((SECONDS + WAIT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		influx_ping "$1" && pid_listens "$2" "${1##*:}" && return 0
		if ! pid_alive "$2" influxd; then
			tail -n 15 "$SL_LOG/influxd.log" >&2 || true
			return 1
		fi
		sleep 0.5
	done
	return 1
}

ensure_influx() {
	if [ -n "${SUILONG_INFLUX_URL:-}" ]; then
		say "InfluxDB: using SUILONG_INFLUX_URL=$SUILONG_INFLUX_URL from the environment"
		setv SUILONG_INFLUX_URL "$SUILONG_INFLUX_URL"
		setv SUILONG_INFLUX_BUCKET "${SUILONG_INFLUX_BUCKET:-coldchain/autogen}"
		# The tests start private influxd instances even when the shared one is elsewhere.
		[ "$TEST" = 1 ] && ensure_influxd_bin
		return 0
	fi
	ensure_influxd_bin

	local pid url port rpc conf=$SL_VAR/influxdb/influxd.conf
	pid=$(read_pid influxd || true)
	url=$(cat "$SL_RUN/influxd.url" 2>/dev/null || true)
	if [ -n "$url" ] && pid_alive "$pid" influxd; then
		wait_influx "$url" "$pid" || die "our influxd (pid $pid) runs but does not answer at $url/ping; see var/log/influxd.log, or run deploy/local/down.sh and try again"
		say "InfluxDB: reusing influxd (pid $pid) at $url"
		adopt influxd
	else
		forget influxd
		if [ -n "${SUILONG_INFLUX_PORT:-}" ]; then
			port=$SUILONG_INFLUX_PORT
			port_in_use "$port" && die "SUILONG_INFLUX_PORT=$port is taken by another program"
			reserve_port "$port"
		elif ! port_in_use 8086; then
			port=8086
			reserve_port 8086
		else
			free_port 8087 && port=$FREE_PORT
		fi
		free_port 8088 && rpc=$FREE_PORT
		mkdir -p "$SL_VAR/influxdb/data" "$SL_VAR/influxdb/meta" "$SL_VAR/influxdb/wal"
		cat >"$conf" <<-EOF
			# Written by deploy/local/up.sh on every start; edits are lost.
			reporting-disabled = true
			bind-address = "127.0.0.1:$rpc"

			[meta]
			  dir = "$SL_VAR/influxdb/meta"

			[data]
			  dir = "$SL_VAR/influxdb/data"
			  wal-dir = "$SL_VAR/influxdb/wal"
			  query-log-enabled = false

			[monitor]
			  store-enabled = false

			[http]
			  enabled = true
			  bind-address = "127.0.0.1:$port"
			  auth-enabled = false
			  log-enabled = false
			  flux-enabled = true
			  flux-log-enabled = false

			[subscriber]
			  enabled = false

			[[graphite]]
			  enabled = false

			[[collectd]]
			  enabled = false

			[[opentsdb]]
			  enabled = false

			[[udp]]
			  enabled = false
		EOF
		url="http://127.0.0.1:$port"
		say "InfluxDB: starting influxd at $url (log: var/log/influxd.log)"
		# setsid: a Ctrl-C meant for `make run` must not reach the services; down.sh stops them in order.
		setsid "$INFLUXD_BIN" -config "$conf" >>"$SL_LOG/influxd.log" 2>&1 </dev/null 9>&- &
		pid=$!
		claim influxd "$pid"
		echo "$url" >"$SL_RUN/influxd.url"
		if ! wait_influx "$url" "$pid"; then
			kill "$pid" 2>/dev/null || true
			forget influxd
			# Another program (another checkout's influxd, starting too) took the port first: once more, elsewhere.
			if [ -z "${SUILONG_INFLUX_PORT:-}" ] && [ "${SL_INFLUX_RETRY:-0}" -lt 3 ] &&
				tail -n 5 "$SL_LOG/influxd.log" | grep -q 'address already in use'; then
				SL_INFLUX_RETRY=$((${SL_INFLUX_RETRY:-0} + 1))
				say "InfluxDB: port $port was taken while influxd started; trying another"
				ensure_influx
				return
			fi
			die "influxd did not answer at $url/ping within $WAIT s; see var/log/influxd.log"
		fi
	fi
	curl -fsS -m 10 -o /dev/null -XPOST "$url/query" --data-urlencode 'q=CREATE DATABASE coldchain' ||
		die "could not create the coldchain database in InfluxDB at $url; see var/log/influxd.log"
	setv SUILONG_INFLUX_URL "$url" chosen
	setv SUILONG_INFLUX_BUCKET "${SUILONG_INFLUX_BUCKET:-coldchain/autogen}" chosen
}

# ---------------------------------------------------------------- addresses suilong listens on

# pick_addr VAR DEFAULT_PORT WHAT: 127.0.0.1:DEFAULT_PORT, or the next free port when that one is taken.
pick_addr() {
	local var=$1 def=$2 what=$3 prev p
	if [ -n "${!var:-}" ]; then
		setv "$var" "${!var}"
		return 0
	fi
	prev=$(env_get "$SL_ENV_FILE" "$var")
	if [ -n "$prev" ] && [ "$SUILONG_SERVING" = 1 ]; then
		# The running suilong holds it; keep it so `suilong sim` and friends still reach that process.
		setv "$var" "$prev" chosen
		return 0
	fi
	if ! port_in_use "$def"; then
		reserve_port "$def"
		setv "$var" "127.0.0.1:$def" chosen
		return 0
	fi
	free_port $((def + 1)) && p=$FREE_PORT
	printf '\n%s: !!! 127.0.0.1:%s is taken by another program: %s will use 127.0.0.1:%s instead !!!\n\n' \
		"$SL_PROG" "$def" "$what" "$p" >&2
	setv "$var" "127.0.0.1:$p" chosen
}

# ---------------------------------------------------------------- test-only: Mosquitto and Chromium

# is_mosquitto PORT: a Mosquitto (not, say, suilong's own embedded broker) answers on 127.0.0.1:PORT.
is_mosquitto() {
	port_in_use "$1" || return 1
	if have mosquitto_sub; then
		# shellcheck disable=SC2016 # $SYS is a topic, not a variable
		timeout 8 mosquitto_sub -h 127.0.0.1 -p "$1" -t '$SYS/broker/version' -C 1 -W 5 2>/dev/null | grep -qi mosquitto
	else
		return 0
	fi
}

ensure_test_mosquitto() {
	if [ -n "${SUILONG_TEST_MOSQUITTO_URL:-}" ]; then
		say "Mosquitto: using SUILONG_TEST_MOSQUITTO_URL=$SUILONG_TEST_MOSQUITTO_URL from the environment"
		setv SUILONG_TEST_MOSQUITTO_URL "$SUILONG_TEST_MOSQUITTO_URL"
		return 0
	fi
	if ! have mosquitto_sub && is_root; then apt_install mosquitto-clients || true; fi
	if [ "${SUILONG_LOCAL_FORCE_OWN_MQTT:-0}" != 1 ]; then
		if is_mosquitto 1883; then
			say "Mosquitto: using the broker at 127.0.0.1:1883 for the external-broker tests"
			setv SUILONG_TEST_MOSQUITTO_URL "tcp://127.0.0.1:1883" chosen
			return 0
		fi
	else
		say "Mosquitto: SUILONG_LOCAL_FORCE_OWN_MQTT=1, using our own broker"
	fi

	local pid port bin conf=$SL_VAR/mosquitto/mosquitto.conf
	pid=$(read_pid mosquitto || true)
	port=$(cat "$SL_RUN/mosquitto.port" 2>/dev/null || true)
	if [ -n "$port" ] && pid_alive "$pid" mosquitto && port_in_use "$port"; then
		say "Mosquitto: reusing our broker (pid $pid) at 127.0.0.1:$port"
		adopt mosquitto
	else
		forget mosquitto
		bin=$(command -v mosquitto || true)
		[ -z "$bin" ] && [ -x /usr/sbin/mosquitto ] && bin=/usr/sbin/mosquitto
		if [ -z "$bin" ] && is_root; then
			apt_install mosquitto mosquitto-clients || die "could not install mosquitto (see var/log/apt.log)"
			bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
		fi
		[ -x "$bin" ] || die "the external-broker tests need Mosquitto: none answers at 127.0.0.1:1883 and it is not installed.
  Install it:            sudo apt-get install -y mosquitto mosquitto-clients
  or name a broker:      export SUILONG_TEST_MOSQUITTO_URL=tcp://host:1883"
		if [[ $port =~ ^[0-9]+$ ]] && ! port_in_use "$port"; then reserve_port "$port"; else free_port 18830 && port=$FREE_PORT; fi
		mkdir -p "$SL_VAR/mosquitto/data"
		{
			echo "# Written by deploy/local/up.sh on every start; edits are lost."
			echo "listener $port 127.0.0.1"
			echo "allow_anonymous true"
			echo "persistence true"
			echo "persistence_location $SL_VAR/mosquitto/data/"
			echo "log_dest stderr"
			echo "set_tcp_nodelay true"
			# As root Mosquitto would switch to the mosquitto user, who may not write under var/.
			if is_root; then echo "user root"; fi
		} >"$conf"
		say "Mosquitto: starting our broker at 127.0.0.1:$port (log: var/log/mosquitto.log)"
		setsid "$bin" -c "$conf" >>"$SL_LOG/mosquitto.log" 2>&1 </dev/null 9>&- &
		pid=$!
		claim mosquitto "$pid"
		echo "$port" >"$SL_RUN/mosquitto.port"
		local deadline=$((SECONDS + WAIT))
		while ! port_in_use "$port"; do
			if [ "$SECONDS" -ge "$deadline" ] || ! pid_alive "$pid" mosquitto; then
				kill "$pid" 2>/dev/null || true
				forget mosquitto
				tail -n 15 "$SL_LOG/mosquitto.log" >&2 || true
				die "Mosquitto did not listen on 127.0.0.1:$port within $WAIT s; see var/log/mosquitto.log"
			fi
			sleep 0.5
		done
	fi
	setv SUILONG_TEST_MOSQUITTO_URL "tcp://127.0.0.1:$port" chosen
}

ensure_chromium() {
	local c=${SUILONG_CHROMIUM:-/usr/bin/chromium}
	if [ ! -x "$c" ]; then
		is_root || die "the page tests need Chromium and $c is missing; install it with: sudo apt-get install -y chromium"
		say "Chromium: not installed; installing Debian's chromium for the page tests (a few minutes the first time)"
		apt_install chromium || die "could not install Debian's chromium, which the page tests need (see var/log/apt.log)"
		[ -x "$c" ] || die "Debian's chromium was installed but $c does not exist; set SUILONG_CHROMIUM to the browser"
	fi
	# The pages are Chinese first; without a CJK font their screenshots show empty boxes.
	if is_root && have fc-list && [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
		apt_install fonts-wqy-microhei || warn "no Chinese font installed; page screenshots will show boxes for Chinese text"
	fi
	setv SUILONG_CHROMIUM "$c" chosen
}

# mailpit, the SMTP server the email tests send to (built once from the Go module proxy, like influxd).
MAILPIT_VERSION=v1.33.1
ensure_mailpit() {
	local bin=${SUILONG_MAILPIT_BIN:-$SL_ROOT/bin/tools/mailpit}
	if [ ! -x "$bin" ]; then
		have go || die "Go is needed to build mailpit (go install github.com/axllent/mailpit@$MAILPIT_VERSION)"
		say "mailpit: building $MAILPIT_VERSION into bin/tools/ for the email tests (once; log: var/log/mailpit-build.log)"
		mkdir -p "$SL_ROOT/bin/tools"
		if ! (cd "$SL_ROOT/bin/tools" && GOBIN="$SL_ROOT/bin/tools" GOFLAGS="" \
			go install "github.com/axllent/mailpit@$MAILPIT_VERSION") >"$SL_LOG/mailpit-build.log" 2>&1; then
			tail -n 20 "$SL_LOG/mailpit-build.log" >&2 || true
			die "building mailpit failed; see var/log/mailpit-build.log"
		fi
		bin=$SL_ROOT/bin/tools/mailpit
	fi
	setv SUILONG_MAILPIT_BIN "$bin" chosen
}

# ---------------------------------------------------------------- main

write_env() {
	local tmp=$SL_ENV_FILE.tmp.$$ k v
	{
		echo "# Written by deploy/local/up.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); rewritten on every run."
		echo "# suilong reads this file when run from the checkout; variables set in the environment win."
		for k in "${ORDER[@]}"; do
			v=${OUT[$k]}
			[[ $v == *"'"* || $v == *$'\n'* ]] && die "$k contains a quote or a newline, which var/suilong.env cannot hold"
			if [[ $v =~ ^[A-Za-z0-9_./:@?=%+,~-]*$ ]]; then echo "$k=$v"; else echo "$k='$v'"; fi
		done
	} >"$tmp"
	chmod 600 "$tmp" # it may hold a token
	mv "$tmp" "$SL_ENV_FILE"
	# Every value ever chosen, so that an export left from any earlier run is recognised.
	{
		[ -f "$SL_RUN/chosen" ] && cat "$SL_RUN/chosen"
		for k in "${!CHOSEN[@]}"; do echo "$k=${CHOSEN[$k]}"; done
	} | sort -u >"$SL_RUN/chosen.tmp"
	mv "$SL_RUN/chosen.tmp" "$SL_RUN/chosen"
}

# Bash would otherwise finish the current step and carry on after a Ctrl-C. What was started so far is in
# var/run, for down.sh.
trap 'die "interrupted; deploy/local/down.sh stops what had started"' INT TERM HUP
T0=$SECONDS
need_curl
SUILONG_SERVING=0
suilong_serving && SUILONG_SERVING=1
ensure_postgres
ensure_influx
pick_addr SUILONG_HTTP_ADDR 8080 "suilong's HTTP server"
pick_addr SUILONG_MQTT_LISTEN 1883 "suilong's embedded MQTT broker"
if [ -n "${SUILONG_PUBLIC_BASE_URL:-}" ]; then
	setv SUILONG_PUBLIC_BASE_URL "$SUILONG_PUBLIC_BASE_URL"
else
	setv SUILONG_PUBLIC_BASE_URL "http://${OUT[SUILONG_HTTP_ADDR]}" chosen
fi
if [ -n "${SUILONG_DATA_DIR:-}" ]; then
	setv SUILONG_DATA_DIR "$SUILONG_DATA_DIR"
else
	setv SUILONG_DATA_DIR "$SL_VAR/data" chosen
fi
# Passed through so that every suilong command run from the checkout sees them, not only this shell.
for k in SUILONG_MQTT_URL SUILONG_INFLUX_TOKEN SUILONG_INFLUX_ORG; do
	if [ -n "${!k:-}" ]; then setv "$k" "${!k}"; fi
done
if [ "$TEST" = 1 ]; then
	ensure_test_mosquitto
	ensure_chromium
	ensure_mailpit
fi
write_env
say "services ready in $((SECONDS - T0)) s; settings written to var/suilong.env"
