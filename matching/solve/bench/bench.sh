#!/usr/bin/env bash
# make bench-matching: `suilong match` against LEMON's network simplex, as whole processes on the same
# instances, in one run (see docs/matching-solve.md, "Figures"). Builds bin/suilong and, beside this script,
# the LEMON driver (lemon/lemon_match.cc, against Debian's liblemon-dev and rapidjson-dev, installed with apt-get
# when missing); then main.go generates the instances, runs both and prints the table. When LEMON cannot be
# had, it says why and runs Suilong's side alone. Arguments go to main.go (-runs 5, -only '50k', …).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
GO=${GO:-go}

echo "building bin/suilong"
"$GO" build -o bin/suilong ./cmd/suilong

have_headers() { [ -f /usr/include/lemon/network_simplex.h ] && [ -f /usr/include/rapidjson/document.h ]; }
missing=""
if ! have_headers; then
	as_root=()
	[ "$(id -u)" = 0 ] || as_root=(sudo -n)
	if ! command -v apt-get >/dev/null; then
		missing="liblemon-dev and rapidjson-dev are not installed and there is no apt-get to install them"
	else
		echo "installing liblemon-dev and rapidjson-dev with apt-get"
		if ! "${as_root[@]}" apt-get install -y --no-install-recommends liblemon-dev rapidjson-dev >/dev/null 2>&1; then
			"${as_root[@]}" apt-get update >/dev/null 2>&1 || true
			"${as_root[@]}" apt-get install -y --no-install-recommends liblemon-dev rapidjson-dev >/dev/null 2>&1 ||
				missing="apt-get could not install liblemon-dev and rapidjson-dev (not root, no network, or not Debian)"
		fi
	fi
fi
if [ -z "$missing" ] && ! command -v g++ >/dev/null; then
	missing="there is no C++ compiler (g++) to build the LEMON driver"
fi
lemon=""
if [ -z "$missing" ] && have_headers; then
	driver="$here/lemon/lemon-match"
	if [ ! -x "$driver" ] || [ "$here/lemon/lemon_match.cc" -nt "$driver" ]; then
		echo "building $driver"
		if g++ -O3 -DNDEBUG -std=c++17 -o "$driver" "$here/lemon/lemon_match.cc" -llemon -pthread; then
			lemon=$driver
		else
			missing="the LEMON driver did not compile (see above)"
		fi
	else
		lemon=$driver
	fi
elif [ -z "$missing" ]; then
	missing="liblemon-dev and rapidjson-dev are still missing after apt-get"
fi

"$GO" build -o bin/bench-matching ./matching/solve/bench
exec bin/bench-matching -suilong bin/suilong -lemon "$lemon" -lemon-missing "$missing" "$@"
