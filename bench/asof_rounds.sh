#!/usr/bin/env bash
# As-of against latest in alternating rounds on one madbus with 5 days of history (ROUNDS,
# default 4): wrk -t2 -c10 -d8s, as-of at random times (bench/asof.lua, the buses of L1, or
# BUS_IDS) then latest on B001, each with its CPU time per request. One 10 s as-of run first
# reads the history asked for into memory (reported as the cold run). Alternating takes the
# machine's drift out of the ratios (bench/http.sh measures each once). Loopback only.
# Usage: bash bench/asof_rounds.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk
ROUNDS=${1:-4}
PORT=18094
start_madbus $PORT 5d "$OUT/asof-rounds.log"
H=(-H "x-api-key: $KEY" -H "x-group-name: bench")
NOW=$(($(date +%s) * 1000))
export MADBUS_KEY=$KEY MADBUS_GROUP=bench FROM_MS=$((NOW - 5 * 86400 * 1000 + 60000)) TO_MS=$NOW
asof() { wrk -t2 -c10 -d"$1"s --latency -s bench/asof.lua "http://127.0.0.1:$PORT"; }
asof 10 > "$OUT/asof-rounds-cold.txt"
echo "Cold (first 10 s): $(rps "$OUT/asof-rounds-cold.txt") req/s, p99 $(wrk_p99 "$OUT/asof-rounds-cold.txt")"
echo
echo "| round | as-of req/s | p99 | CPU/req | latest req/s | p99 | CPU/req | req/s ratio | p99 ratio | CPU ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for ((r = 1; r <= ROUNDS; r++)); do
  t0=$(cpu_ticks "$MADBUS_PID")
  asof 8 > "$OUT/asof-rounds-asof.txt"
  ac=$(us_per_request $(($(cpu_ticks "$MADBUS_PID") - t0)) "$OUT/asof-rounds-asof.txt")
  t0=$(cpu_ticks "$MADBUS_PID")
  wrk -t2 -c10 -d8s --latency "${H[@]}" "http://127.0.0.1:$PORT/bus-position/B001?mode=latest" \
    > "$OUT/asof-rounds-latest.txt"
  lc=$(us_per_request $(($(cpu_ticks "$MADBUS_PID") - t0)) "$OUT/asof-rounds-latest.txt")
  a=$(rps "$OUT/asof-rounds-asof.txt"); l=$(rps "$OUT/asof-rounds-latest.txt")
  ap=$(wrk_p99_ms "$OUT/asof-rounds-asof.txt"); lp=$(wrk_p99_ms "$OUT/asof-rounds-latest.txt")
  echo "| $r | $a | ${ap} ms | ${ac} µs | $l | ${lp} ms | ${lc} µs | $(ratio "$a" "$l" '%.2f') | $(ratio "$ap" "$lp" '%.2f') | $(ratio "$ac" "$lc" '%.2f') |"
done
echo
echo "Stretches of history read into memory: $(curl -sf "${H[@]}" "http://127.0.0.1:$PORT/metrics" | awk '$1 == "madbus_history_stretches_read_total" {print $2}'); resident memory $(awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$MADBUS_PID/status")."
