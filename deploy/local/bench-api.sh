#!/usr/bin/env bash
# deploy/local/bench-api.sh — the API load harness behind `make bench-api` (run it through deploy/local/with.sh,
# which brings PostgreSQL and InfluxDB up and exports var/suilong.env).
#
# Builds a database of its own (suilong_bench) with two buyers: a demo-sized one (20 demands) and one with
# 100,000 demands written by COPY; starts `bin/suilong serve` on it; then measures, in one run on this machine:
#   1. GET /api/v1/demands?limit=50 (p50, p99) for the 100,000-demand buyer and the demo-sized one, against a
#      trivial request through the same stack (GET /api/v1/orgs/{id}: the key, then one primary-key read);
#   2. POST /api/v1/demands with wrk at 8 and 32 connections, against pgbench running the same one-row INSERT
#      into the same table at 8 and 32 clients (the database's own ceiling);
#   3. the public page /t/{code} of a delivered lot that spent 30 days in a truck with 4 sensors reading once a
#      minute (172,800 readings in a bench InfluxDB database): its first view against a raw Flux fetch of the
#      same readings, then wrk at 32 connections (pages/s, p50, p99) against the trivial request at 32, and the
#      InfluxDB queries the warm views made (the goal: none).
# It prints the ratios and writes them to var/bench/api-<time>.txt. wrk and pgbench come from Debian's packages,
# installed when missing (as root). Knobs: BENCH_SECONDS (default 15 per measurement), BENCH_DEMANDS (100000),
# BENCH_ONLY=reads or writes (one half; the report then leaves the other's lines out).

set -euo pipefail
SL_PROG=bench-api
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SL_ROOT"

SECONDS_EACH=${BENCH_SECONDS:-15}
ONLY=${BENCH_ONLY:-}
case $ONLY in "" | reads | writes) ;; *) die "BENCH_ONLY must be reads or writes" ;; esac
runs() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
BIG=${BENCH_DEMANDS:-100000}
[ -n "${SUILONG_DATABASE_URL:-}" ] || die "SUILONG_DATABASE_URL is not set: run me through deploy/local/with.sh (make bench-api)"

have wrk || apt_install wrk || die "wrk is missing and could not be installed (apt-get install wrk, as root)"
have pgbench || apt_install postgresql-client postgresql || die "pgbench is missing and could not be installed"
have psql || die "psql is missing (apt-get install postgresql-client)"
[ -x bin/suilong ] || die "bin/suilong is missing: make build"

# The bench database: the server of SUILONG_DATABASE_URL, database suilong_bench, made afresh.
ADMIN_URL=$SUILONG_DATABASE_URL
BENCH_URL=$(printf '%s' "$ADMIN_URL" | sed -E 's#^(postgres(ql)?://[^/]*)/[^?]*#\1/suilong_bench#')
psql -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c 'DROP DATABASE IF EXISTS suilong_bench WITH (FORCE)' -c 'CREATE DATABASE suilong_bench'
export SUILONG_DATABASE_URL=$BENCH_URL
q() { psql -q -X -At -v ON_ERROR_STOP=1 "$BENCH_URL" "$@"; }

OUT_DIR=$SL_VAR/bench
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "$OUT_DIR/run.XXXXXX")
SERVE_PID=
TOTAL=
cleanup() {
	if [ -n "$SERVE_PID" ]; then
		kill "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	psql -q -X "$ADMIN_URL" -c 'DROP DATABASE IF EXISTS suilong_bench WITH (FORCE)' >/dev/null 2>&1 || true
	curl -fsS -XPOST "${SUILONG_INFLUX_URL:-http://127.0.0.1:8086}/query" --data-urlencode 'q=DROP DATABASE suilong_bench' >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

say "building the bench database (a buyer with $BIG demands, a demo-sized one, a writer)"
./bin/suilong migrate >"$WORK/migrate.log" 2>&1 || {
	cat "$WORK/migrate.log" >&2
	die "migrate failed"
}
q -c "INSERT INTO products (name, name_zh, shelf_life_hours, temp_min_c, temp_max_c) VALUES ('choy-sum', '菜心', 72, 0, 4)"
org() { # org NAME: creates a buyer, prints "ID KEY"
	local id key
	id=$(./bin/suilong admin create-org --name "$1" --role buyer | sed -E 's/^created organisation ([0-9]+) .*/\1/')
	key=$(./bin/suilong admin create-key --org "$1")
	echo "$id $key"
}
read -r BIG_ID BIG_KEY < <(org "bench: 广州江南果菜批发市场 ($BIG demands)")
read -r DEMO_ID DEMO_KEY < <(org "bench: 天河区机关食堂配送中心 (20 demands)")
read -r W_ID W_KEY < <(org "bench: writer")
copy_demands() { # copy_demands ORG N
	awk -v org="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++)
		printf "%d,choy-sum,%d,%d,%d,jiangnan-market,2026-12-%02dT04:00:00Z\n", org, 1 + i % 3, 100 + i % 900, 300 + i % 400, 1 + i % 28 }' |
		q -c "COPY demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by) FROM STDIN (FORMAT csv)"
}
copy_demands "$BIG_ID" "$BIG"
copy_demands "$DEMO_ID" 20
q -c 'VACUUM ANALYZE demands'

# The public page's readings, in an InfluxDB database of the bench's own.
[ -n "${SUILONG_INFLUX_URL:-}" ] || die "SUILONG_INFLUX_URL is not set: run me through deploy/local/with.sh (make bench-api)"
INFLUX=$SUILONG_INFLUX_URL
influxq() { curl -fsS -XPOST "$INFLUX/query" --data-urlencode "q=$1" >/dev/null; }
influxq 'DROP DATABASE suilong_bench'
influxq 'CREATE DATABASE suilong_bench'
export SUILONG_INFLUX_BUCKET=suilong_bench/autogen
LOT_TO=$(($(date +%s) / 60 * 60 - 600))
LOT_FROM=$((LOT_TO - 30 * 86400))
say "writing 30 days × 4 sensors of readings for the public page"
awk -v from="$LOT_FROM" -v to="$LOT_TO" 'BEGIN { for (t = from; t < to; t += 60) for (s = 0; s < 4; s++) {
	v = 3 + 0.1 * s; if (s == 3 && (t - from) % 86400 >= 43200 && (t - from) % 86400 < 43800) v = 6
	printf "reading,asset_id=BENCH-TRK,asset_kind=truck,gateway_id=BENCH-GW,sensor_id=BENCH-TRK-%d temp_c=%g %d000000000\n", s, v, t } }' |
	split -l 20000 - "$WORK/readings."
for f in "$WORK"/readings.*; do
	curl -fsS -XPOST "$INFLUX/write?db=suilong_bench" --data-binary "@$f" || die "writing the bench readings to InfluxDB failed"
done
rm -f "$WORK"/readings.*

free_port 18080
HTTP_PORT=$FREE_PORT
free_port 18830
MQTT_PORT=$FREE_PORT
say "starting suilong serve on 127.0.0.1:$HTTP_PORT"
SUILONG_HTTP_ADDR=127.0.0.1:$HTTP_PORT SUILONG_MQTT_LISTEN=127.0.0.1:$MQTT_PORT SUILONG_DATA_DIR=$WORK/data \
	SUILONG_TRACE_PUBLIC_RATE=1000000 SUILONG_TRACE_PUBLIC_BURST=1000000 \
	./bin/suilong serve >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
BASE=http://127.0.0.1:$HTTP_PORT
for _ in $(seq 1 100); do
	curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
	kill -0 "$SERVE_PID" 2>/dev/null || {
		tail -n 30 "$WORK/serve.log" >&2
		die "serve stopped"
	}
	sleep 0.2
done
curl -fsS "$BASE/healthz" >/dev/null || die "serve does not answer on $BASE"
POOL=$(grep -o 'max_conns=[0-9]* ingest_max_conns=[0-9]*' "$WORK/serve.log" | head -n1 || true)

# wrk_run NAME CONNS KEY PATH [LUA]: runs wrk, keeps its report in $WORK/NAME.txt, fails on any non-2xx answer.
wrk_run() {
	local name=$1 conns=$2 key=$3 path=$4 lua=${5:-}
	local args=(-t2 "-c$conns" "-d${SECONDS_EACH}s" --latency -H "Authorization: Bearer $key")
	[ -n "$lua" ] && args+=(-s "$lua")
	wrk "${args[@]}" "$BASE$path" >"$WORK/$name.txt" 2>&1 || die "wrk $name failed: $(cat "$WORK/$name.txt")"
	if grep -q 'Non-2xx or 3xx responses' "$WORK/$name.txt"; then
		cat "$WORK/$name.txt" >&2
		die "$name: some answers were not 2xx"
	fi
}
rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/$1.txt"; }
# lat NAME PCT: a latency percentile of a wrk report, in ms.
lat() {
	awk -v p="$2%" '$1 == p { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		f = (u == "us") ? 0.001 : (u == "s") ? 1000 : 1; printf "%.2f", v * f }' "$WORK/$1.txt"
}
# pgb NAME CLIENTS FILE: pgbench's tps on FILE.
pgb() {
	pgbench -n -M prepared -c "$2" -j 2 -T "$SECONDS_EACH" -f "$3" "$BENCH_URL" >"$WORK/$1.txt" 2>&1 ||
		die "pgbench $1 failed: $(cat "$WORK/$1.txt")"
	awk '/^tps = / { printf "%.0f", $3 }' "$WORK/$1.txt"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# 1. Reads: a page of the big buyer's demands, of the demo-sized one's, and the trivial request.
if runs reads; then
	say "measuring reads (${SECONDS_EACH}s each)"
	wrk_run trivial-8 8 "$BIG_KEY" "/api/v1/orgs/$BIG_ID"
	wrk_run list-big-8 8 "$BIG_KEY" "/api/v1/demands?limit=50"
	wrk_run list-demo-8 8 "$DEMO_KEY" "/api/v1/demands?limit=50"
	NEXT=$(curl -fsS -H "Authorization: Bearer $BIG_KEY" "$BASE/api/v1/demands?limit=50" | sed -E 's/.*"next":"([^"]*)".*/\1/')
	wrk_run list-big-after-8 8 "$BIG_KEY" "/api/v1/demands?limit=50&after=$NEXT"
	wrk_run list-big-32 32 "$BIG_KEY" "/api/v1/demands?limit=50"
	TOTAL=$(curl -fsS -H "Authorization: Bearer $BIG_KEY" "$BASE/api/v1/demands?limit=1" | sed -E 's/.*"total":([0-9]+),"total_capped":(true|false).*/\1 capped=\2/')
fi

# 2. Writes (after the reads, whose buyers they would outnumber): the same one-row INSERT from pgbench, then through the API.
if runs writes; then
	cat >"$WORK/insert.sql" <<-EOF
	INSERT INTO demands (org_id, product, min_grade, quantity_kg, max_price_fen, destination, deliver_by)
	VALUES ($W_ID, 'choy-sum', 2, 500, 500, 'jiangnan-market', '2026-12-21T04:00:00Z');
	EOF
	cat >"$WORK/post.lua" <<-'EOF'
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.body = '{"product":"choy-sum","min_grade":2,"quantity_kg":500,"max_price_per_kg":5.00,' ..
		'"destination":"jiangnan-market","deliver_by":"2026-12-21T04:00:00Z"}'
	EOF
	say "measuring writes (${SECONDS_EACH}s each)"
	# The machine is shared: the baseline is measured just before and just after the API, and their mean taken.
	mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a + b) / 2 }'; }
	A=$(pgb pgbench-insert-8a 8 "$WORK/insert.sql")
	wrk_run post-8 8 "$W_KEY" /api/v1/demands "$WORK/post.lua"
	B=$(pgb pgbench-insert-8b 8 "$WORK/insert.sql")
	PGB8=$(mean "$A" "$B")
	PGB8_RANGE="$A–$B"
	A=$(pgb pgbench-insert-32a 32 "$WORK/insert.sql")
	wrk_run post-32 32 "$W_KEY" /api/v1/demands "$WORK/post.lua"
	B=$(pgb pgbench-insert-32b 32 "$WORK/insert.sql")
	PGB32=$(mean "$A" "$B")
	PGB32_RANGE="$A–$B"
fi

# 3. The public page: a lot loaded 30 days ago and received 10 minutes ago, its first view (the 30-day summary
# computed) against a raw Flux fetch of its readings, then warm views under wrk against the trivial request.
influx_queries() { curl -fsS "$BASE/metrics" | awk '/^suilong_influx_requests_total\{op="query"\}/ { print $2 }'; }
bench_public_page() {
	local staff base lot code
	./bin/suilong admin create-org --name "bench: 龙岩市商务局" --role coordinator >/dev/null
	staff=$(./bin/suilong admin create-key --org "bench: 龙岩市商务局")
	./bin/suilong admin create-org --name "bench: 上杭县蛟洋蔬菜合作社" --role base >/dev/null
	base=$(./bin/suilong admin create-key --org "bench: 上杭县蛟洋蔬菜合作社")
	api() { curl -fsS -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$3" "$BASE$2"; }
	iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
	api "$staff" /api/v1/assets '{"id":"BENCH-TRK","kind":"truck","name":"龙岩冷藏车 bench","city":"龙岩"}' >/dev/null
	lot=$(api "$base" /api/v1/lots "{\"product\":\"choy-sum\",\"quantity_kg\":1000,\"base_name\":\"蛟洋基地\",\"county\":\"上杭县\",\"harvested_at\":\"$(iso $((LOT_FROM - 3600)))\"}")
	code=$(printf '%s' "$lot" | sed -E 's/.*"code":"([^"]*)".*/\1/')
	lot=$(printf '%s' "$lot" | sed -E 's/^\{"id":([0-9]+).*/\1/')
	api "$base" "/api/v1/lots/$lot/events" "{\"kind\":\"load\",\"at\":\"$(iso "$LOT_FROM")\",\"asset_id\":\"BENCH-TRK\"}" >/dev/null
	api "$base" "/api/v1/lots/$lot/events" "{\"kind\":\"receive\",\"at\":\"$(iso "$LOT_TO")\"}" >/dev/null
	PAGE_COLD=$(curl -fsS -o "$WORK/page.html" -w '%{time_total}' "$BASE/t/$code" | awk '{ printf "%.0f", $1 * 1000 }')
	grep -q '温度超标 30 次' "$WORK/page.html" || die "the bench lot's page does not show its 30 excursions"
	local flux="from(bucket: \"suilong_bench/autogen\") |> range(start: $(iso "$LOT_FROM"), stop: $(iso "$LOT_TO")) |> filter(fn: (r) => r._measurement == \"reading\" and r._field == \"temp_c\" and r.asset_id == \"BENCH-TRK\")"
	RAW_FLUX=$(curl -fsS -XPOST "$INFLUX/api/v2/query" -H 'Content-Type: application/vnd.flux' -H 'Accept: application/csv' \
		--data-binary "$flux" -o /dev/null -w '%{time_total}' | awk '{ printf "%.0f", $1 * 1000 }')
	for _ in 1 2 3; do curl -fsS -o /dev/null "$BASE/t/$code"; done
	local q0
	q0=$(influx_queries)
	wrk_run page-32 32 "$BIG_KEY" "/t/$code"
	PAGE_QUERIES=$(($(influx_queries) - q0))
	wrk_run trivial-32 32 "$BIG_KEY" "/api/v1/orgs/$BIG_ID"
}
if runs reads; then
	say "measuring the public page (${SECONDS_EACH}s)"
	bench_public_page
fi

REPORT=$OUT_DIR/api-$(date -u +%Y%m%dT%H%M%SZ).txt
{
	echo "make bench-api, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs (load average $(cut -d' ' -f1-3 /proc/loadavg)), ${SECONDS_EACH}s per measurement, $(./bin/suilong version 2>/dev/null | head -n1)"
	echo "serve: ${POOL:-pool from the machine}; buyer with $BIG demands${TOTAL:+ (GET /demands total: $TOTAL)}"
	if runs writes; then
	echo
	printf '%-58s %12s %12s %8s\n' "writes" "req/s" "baseline" "ratio"
	printf '%-58s %12s %12s %8s\n' "POST /api/v1/demands vs pgbench one-row INSERT, 8 conns" "$(rps post-8)" "$PGB8" "$(ratio "$(rps post-8)" "$PGB8")"
	printf '%-58s %12s %12s %8s\n' "POST /api/v1/demands vs pgbench one-row INSERT, 32 conns" "$(rps post-32)" "$PGB32" "$(ratio "$(rps post-32)" "$PGB32")"
	printf '  pgbench before–after: %s tps at 8, %s at 32; POST latency p50/p99: %s/%s ms at 8, %s/%s ms at 32\n' \
		"$PGB8_RANGE" "$PGB32_RANGE" "$(lat post-8 50)" "$(lat post-8 99)" "$(lat post-32 50)" "$(lat post-32 99)"
	fi
	if runs reads; then
	echo
	printf '%-58s %9s %9s %9s %8s\n' "reads (8 conns unless said)" "req/s" "p50 ms" "p99 ms" "p50/base"
	B=$(lat trivial-8 50)
	for r in "trivial-8:GET /api/v1/orgs/{id} (baseline: key + one PK read)" \
		"list-big-8:GET /demands?limit=50, $BIG demands" \
		"list-big-after-8:GET /demands?limit=50&after=<page 1's next>, $BIG" \
		"list-demo-8:GET /demands?limit=50, 20 demands" \
		"list-big-32:GET /demands?limit=50, $BIG demands, 32 conns"; do
		n=${r%%:*}
		printf '%-58s %9s %9s %9s %8s\n' "${r#*:}" "$(rps "$n")" "$(lat "$n" 50)" "$(lat "$n" 99)" "$(ratio "$(lat "$n" 50)" "$B")"
	done
	fi
	if runs reads; then
	echo
	printf '%-58s %9s %9s %9s %8s\n' "public page, 32 conns" "req/s" "p50 ms" "p99 ms" "rps/base"
	printf '%-58s %9s %9s %9s %8s\n' "GET /api/v1/orgs/{id} (baseline)" "$(rps trivial-32)" "$(lat trivial-32 50)" "$(lat trivial-32 99)" "1.00"
	printf '%-58s %9s %9s %9s %8s\n' "GET /t/{code}, delivered lot, 30 d × 4 sensors (warm)" "$(rps page-32)" "$(lat page-32 50)" "$(lat page-32 99)" "$(ratio "$(rps page-32)" "$(rps trivial-32)")"
	printf '  InfluxDB queries during the warm views: %s; first view %s ms against a raw Flux fetch of its 172,800 readings in %s ms (ratio %s)\n' \
		"$PAGE_QUERIES" "$PAGE_COLD" "$RAW_FLUX" "$(ratio "$PAGE_COLD" "$RAW_FLUX")"
	fi
} | tee "$REPORT"
say "report written to ${REPORT#"$SL_ROOT"/}"
