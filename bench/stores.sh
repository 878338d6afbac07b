#!/usr/bin/env bash
# SQLite vs PostgreSQL, same run (PostgreSQL store issue). Loopback only.
#   1. The 5-day backfill of the default network: `madbus serve --backfill 5d` from an empty
#      store until it is live; rows/s from madbus_rows_written_total.
#   2. On the same server once live: latest (wrk -t2 -c10 -d10s) and as-of at random times
#      over the 5 days (bench/asof.lua).
# PostgreSQL 15 runs in a throwaway cluster as the `postgres` user (default settings: fsync
# on); SQLite is the embedded default (WAL, synchronous=NORMAL).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_DIR=$(mktemp -d)
chown postgres "$PG_DIR"
runuser -u postgres -- "$PG_BIN/initdb" -A trust -U postgres -D "$PG_DIR/data" >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-p 18432 -k $PG_DIR -c listen_addresses=127.0.0.1 ${PG_OPTS:-}" start >/dev/null
CLEANUP+=("rm -rf '$PG_DIR'" "runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop")
cargo build --release --quiet
BIN=target/release/madbus
PORT=18093

run() { # name store-url
  local name=$1 store=$2 key pid started live_s rows
  key=$("$BIN" keys create --group bench --store "$store" 2>/dev/null)
  started=$(date +%s.%N)
  "$BIN" serve --store "$store" --bind "127.0.0.1:$PORT" --backfill 5d \
    --throttle-burst 1000000000 --throttle-rate 1000000000 > "$OUT/stores-$name.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/health" | grep -q '"phase":"live"'; do sleep 0.1; done
  live_s=$(echo "$(date +%s.%N) - $started" | bc)
  rows=$(curl -sf -H "x-api-key: $key" -H "x-group-name: bench" "http://127.0.0.1:$PORT/metrics" \
    | awk '/^madbus_rows_written_total/ {print $2}')
  local now=$(($(date +%s) * 1000))
  MADBUS_KEY=$key MADBUS_GROUP=bench FROM_MS=$((now - 5 * 86400 * 1000 + 60000)) TO_MS=$now \
    wrk -t2 -c10 -d10s --latency -s bench/asof.lua "http://127.0.0.1:$PORT" > "$OUT/stores-$name-asof.txt"
  wrk -t2 -c10 -d10s --latency -H "x-api-key: $key" -H "x-group-name: bench" \
    "http://127.0.0.1:$PORT/bus-position/B001?mode=latest" > "$OUT/stores-$name-latest.txt"
  kill "$pid"; wait "$pid" || true
  echo "$live_s $rows $(rps "$OUT/stores-$name-latest.txt") $(wrk_p99 "$OUT/stores-$name-latest.txt") $(rps "$OUT/stores-$name-asof.txt") $(wrk_p99 "$OUT/stores-$name-asof.txt") $(wrk_non2xx "$OUT/stores-$name-asof.txt")"
}

DATA=$(mktemp -d); CLEANUP+=("rm -rf '$DATA'")
read -r s_time s_rows s_lat s_lat99 s_asof s_asof99 s_bad < <(run sqlite "sqlite:$DATA")
read -r p_time p_rows p_lat p_lat99 p_asof p_asof99 p_bad < <(run postgres "postgres://postgres@127.0.0.1:18432/postgres")

echo "## Stores: SQLite vs PostgreSQL ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "| measure | SQLite | PostgreSQL | PostgreSQL / SQLite |"
echo "|---|---|---|---|"
echo "| 5-day backfill, start to live | ${s_time} s | ${p_time} s | |"
echo "| rows written | $s_rows | $p_rows | |"
echo "| rows/s | $(ratio "$s_rows" "$s_time" %.0f) | $(ratio "$p_rows" "$p_time" %.0f) | $(awk -v a="$p_rows" -v b="$p_time" -v c="$s_rows" -v d="$s_time" 'BEGIN{printf "%.2f", (a/b)/(c/d)}') (goal >= 0.5) |"
echo "| latest, wrk -c10: requests/s (p99) | $s_lat ($s_lat99) | $p_lat ($p_lat99) | $(ratio "$p_lat" "$s_lat" %.2f) |"
echo "| as-of at random times, wrk -c10: requests/s (p99) | $s_asof ($s_asof99) | $p_asof ($p_asof99) | $(ratio "$p_asof" "$s_asof" %.2f) |"
echo "| non-2xx as-of answers | $s_bad | $p_bad | |"
