#!/usr/bin/env bash
# As-of against latest in alternating rounds on one madbus with 5 days of history (ROUNDS,
# default 4), wrk -t2 -c10 -d8s each: as-of at random times (bench/asof.lua: the buses of
# L1, or BUS_IDS), latest on the same random buses through the same script (LATEST=1: the
# load generator does the same work per request), and latest on B001 as a fixed request.
# Each with madbus's CPU time per request, and the server-side p99 and p99.9 from the access
# log (on two cores shared with wrk, wrk's p99 is mostly the wait for a core: a preempted
# worker's requests all take one 4 ms scheduler tick more). First, 10 s as-of runs read the
# history asked for into memory until one reads less than 1 % more (at most 6; each reported
# as a warm-up run): the rounds measure the steady state. Alternating takes the machine's
# drift out of the ratios (bench/http.sh measures each once). Loopback only.
# Usage: bash bench/asof_rounds.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk
ROUNDS=${1:-4}
PORT=18094
LOG=$OUT/asof-rounds.log
start_madbus $PORT 5d "$LOG"
CLEANUP+=("rm -f '$LOG'") # millions of access-log lines
H=(-H "x-api-key: $KEY" -H "x-group-name: bench")
NOW=$(($(date +%s) * 1000))
export MADBUS_KEY=$KEY MADBUS_GROUP=bench FROM_MS=$((NOW - 5 * 86400 * 1000 + 60000)) TO_MS=$NOW
scripted() { wrk -t2 -c10 -d"$1"s --latency -s bench/asof.lua "http://127.0.0.1:$PORT"; }
fixed() { wrk -t2 -c10 -d"$1"s --latency "${H[@]}" "http://127.0.0.1:$PORT/bus-position/B001?mode=latest"; }
# run NAME COMMAND...: wrk's report in $OUT/asof-rounds-NAME.txt; prints "req/s p99_ms cpu_us
# server_p99_ms server_p999_ms" (server-side: the access log's lines of this run).
run() {
  local report=$OUT/asof-rounds-$1.txt cpu from p99 p999
  shift
  from=$(stat -c %s "$LOG")
  cpu=$(cpu_per_request "$report" "$MADBUS_PID" "$@")
  sleep 0.3 # the log writer's thread catches up
  read -r p99 p999 < <(server_latency_ms "$LOG" "$from")
  echo "$(rps "$report") $(wrk_p99_ms "$report") $cpu $p99 $p999"
}
stretches() {
  curl -sf "${H[@]}" "http://127.0.0.1:$PORT/metrics" |
    awk '$1 == "madbus_history_stretches_read_total" {n = $2} END {print n + 0}'
}
echo "| warm-up run (10 s of as-of) | req/s | p99 | CPU/req | minutes of history read |"
echo "|---|---|---|---|---|"
for ((w = 1; w <= 6; w++)); do
  before=$(stretches)
  read -r c cp cc _ < <(run cold scripted 10)
  after=$(stretches)
  echo "| $w | $c | $cp ms | $cc µs | $((after - before)) |"
  ((after - before <= after / 100)) && break
done
echo
echo "| round | as-of req/s | p99 | CPU/req | latest, same script | p99 | CPU/req | latest, fixed request | p99 | CPU/req | as-of / latest same script: req/s, p99, CPU | as-of / latest fixed: req/s | server-side p99, p99.9: as-of | latest, same script | as-of / latest: p99, p99.9 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
RPS=() P99=() SP99=() SP999=()
for ((r = 1; r <= ROUNDS; r++)); do
  read -r a ap ac as as3 < <(run asof scripted 8)
  read -r l lp lc ls ls3 < <(LATEST=1 run latest scripted 8)
  read -r f fp fc _ < <(run fixed fixed 8)
  RPS+=("$(ratio "$a" "$l" '%.2f')") P99+=("$(ratio "$ap" "$lp" '%.2f')")
  SP99+=("$(ratio "$as" "$ls" '%.2f')") SP999+=("$(ratio "$as3" "$ls3" '%.2f')")
  echo "| $r | $a | $ap ms | $ac µs | $l | $lp ms | $lc µs | $f | $fp ms | $fc µs |" \
    "${RPS[-1]}, ${P99[-1]}, $(ratio "$ac" "$lc" '%.2f') | $(ratio "$a" "$f" '%.2f') |" \
    "$as, $as3 ms | $ls, $ls3 ms | ${SP99[-1]}, ${SP999[-1]} |"
done
echo
echo "Medians over the rounds, as-of / latest (same script): req/s $(median "${RPS[@]}"), wrk p99" \
  "$(median "${P99[@]}"), server-side p99 $(median "${SP99[@]}"), p99.9 $(median "${SP999[@]}")."
echo "Stretches of history read into memory: $(stretches); resident memory $(awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$MADBUS_PID/status")."
