#!/usr/bin/env bash
# Same-run comparison of two madbus builds on the REST hot path: this tree against git
# revision REV (built in a temporary worktree), alternating, ROUNDS times (default 7).
#   wrk -t2 -c50 -d8s, GET /bus-position/B001?mode=latest (or COMPARE_PATH) with a key,
#   throttling raised, access log on (to a file); both servers up at once, each on a fresh
#   1-day backfill; also each one's CPU time per request. Loopback only.
#   COMPARE_SCRIPT=bench/asof.lua runs that wrk script instead (as-of at random times over
#   the backfill); COMPARE_BACKFILL (default 1d, in days) and COMPARE_C (default 50) too.
# Usage: bash bench/compare.sh REV [ROUNDS]     (REV may also be the path of a built binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk curl:curl
REV=$1
ROUNDS=${2:-7}
BACKFILL=${COMPARE_BACKFILL:-1d} C=${COMPARE_C:-50}
if [ -x "$REV" ]; then
  OLD_BIN=$REV
else
  OLD=$(mktemp -d)
  CLEANUP+=("git worktree remove --force '$OLD'")
  git worktree add -q --detach "$OLD" "$REV"
  (cd "$OLD" && cargo build --release --quiet)
  OLD_BIN=$OLD/target/release/madbus
fi
cargo build --release --quiet
# Both servers run at once, each on its own fresh 1-day store, and take turns under wrk:
# the machine's drift falls on both alike. Keys are written to $OUT/compare-PORT.key.
serve() { # BIN PORT: starts one; its pid goes in PIDS[PORT]
  local bin=$1 port=$2 d
  d=$(mktemp -d)
  CLEANUP+=("rm -rf '$d'")
  "$bin" keys create --group ab --data-dir "$d" 2>/dev/null > "$OUT/compare-$port.key"
  "$bin" serve --data-dir "$d" --bind "127.0.0.1:$port" --backfill "$BACKFILL" \
    --throttle-burst 1000000000 --throttle-rate 1000000000 > "$d/access.log" 2>&1 &
  PIDS[$port]=$!
  CLEANUP+=("kill $!")
}
live() { # PORT
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$1/health" | grep -q '"phase":"live"' && return 0
    sleep 0.1
  done
  echo "the server on port $1 did not go live" >&2
  return 1
}
load() { # PORT SECONDS: wrk on the route (or script) under test
  local port=$1 key
  key=$(cat "$OUT/compare-$port.key")
  if [ -n "${COMPARE_SCRIPT:-}" ]; then
    local now=$(($(date +%s) * 1000))
    MADBUS_KEY=$key MADBUS_GROUP=ab FROM_MS=$((now - ${BACKFILL%d} * 86400000 + 60000)) TO_MS=$now \
      wrk -t2 -c"$C" -d"$2"s --latency -s "$COMPARE_SCRIPT" "http://127.0.0.1:$port"
  else
    wrk -t2 -c"$C" -d"$2"s --latency -H "x-api-key: $key" -H "x-group-name: ab" \
      "http://127.0.0.1:$port${COMPARE_PATH:-/bus-position/B001?mode=latest}"
  fi
}
one() { # PID PORT SECONDS: prints req/s, p99 and CPU per request
  local report=$OUT/compare-$2.txt cpu
  cpu=$(cpu_per_request "$report" "$1" load "$2" "$3")
  echo "$(rps "$report") $(wrk_p99 "$report") $cpu"
}
declare -A PIDS
serve "$OLD_BIN" 18201; serve target/release/madbus 18202
OLD_PID=${PIDS[18201]} NEW_PID=${PIDS[18202]}
live 18201; live 18202
one "$OLD_PID" 18201 3 > /dev/null; one "$NEW_PID" 18202 3 > /dev/null   # warm-up
echo "| round | $REV req/s | p99 | CPU/req | this tree req/s | p99 | CPU/req | ratio | CPU ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for ((r = 1; r <= ROUNDS; r++)); do
  read -r a ap ac < <(one "$OLD_PID" 18201 8)
  read -r b bp bc < <(one "$NEW_PID" 18202 8)
  echo "| $r | $a | $ap | ${ac} µs | $b | $bp | ${bc} µs | $(ratio "$b" "$a" '%.2f') | $(ratio "$bc" "$ac" '%.2f') |"
done
