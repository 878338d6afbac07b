#!/usr/bin/env bash
# HTTP benchmarks (REST and gateway issue). Loopback only; every load is bounded in time.
#   1. GET /bus-position/B001?mode=latest with a valid key, throttling out of the way, access
#      log on: wrk -t2 -c50 -d10s against madbus and against nginx serving the same JSON
#      body as a static file with its access log on (the baseline, same run).
#   2. hey -n 1000 -c 10 on the same madbus route (the checklist's load test shape).
#   3. As-of queries at random times over 5 days of history (wrk + bench/asof.lua) on the
#      three buses of L1, cold (just started) and then steady, with `latest` at the same
#      concurrency as the baseline; then as-of over every bus of the fleet (few questions
#      come back to a stretch of history kept in memory); how many stretches were read, and
#      madbus's resident memory.
# Needs wrk, hey and nginx (Debian packages; installed when missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk hey:hey nginx:nginx-light
MADBUS_PORT=18090
start_latest_pair $MADBUS_PORT 18091 5d "$OUT/madbus.log"

wrk -t2 -c50 -d10s --latency "${H[@]}" "$URL" > "$OUT/wrk-madbus.txt"
wrk -t2 -c50 -d10s --latency "$NGINX_URL" > "$OUT/wrk-nginx.txt"
hey -n 1000 -c 10 "${H[@]}" "$URL" > "$OUT/hey-madbus.txt"

NOW=$(($(date +%s) * 1000))
export MADBUS_KEY=$KEY MADBUS_GROUP=bench FROM_MS=$((NOW - 5 * 86400 * 1000 + 60000)) TO_MS=$NOW
# Twice: the first run reads the stretches of history it asks for into memory (cold), the
# second measures the steady state (the goal's figure).
wrk -t2 -c10 -d10s --latency -s bench/asof.lua "http://127.0.0.1:$MADBUS_PORT" > "$OUT/wrk-asof-cold.txt"
wrk -t2 -c10 -d10s --latency -s bench/asof.lua "http://127.0.0.1:$MADBUS_PORT" > "$OUT/wrk-asof.txt"
wrk -t2 -c10 -d10s --latency "${H[@]}" "$URL" > "$OUT/wrk-latest-c10.txt"
# The same over every bus of the fleet: few questions come back to a stretch of history.
FLEET=$(curl -sf "${H[@]}" "http://127.0.0.1:$MADBUS_PORT/buses" | grep -o '"bus_id":"[^"]*"' | cut -d'"' -f4 | paste -sd,)
BUS_IDS=$FLEET wrk -t2 -c10 -d10s --latency -s bench/asof.lua "http://127.0.0.1:$MADBUS_PORT" > "$OUT/wrk-asof-fleet.txt"
STRETCHES=$(curl -sf "${H[@]}" "http://127.0.0.1:$MADBUS_PORT/metrics" | awk '$1 == "madbus_history_stretches_read_total" {print $2}')
RSS_MB=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$MADBUS_PID/status")

M=$(rps "$OUT/wrk-madbus.txt"); N=$(rps "$OUT/wrk-nginx.txt")
echo "## HTTP benchmarks ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "| measure | madbus | baseline | ratio |"
echo "|---|---|---|---|"
echo "| wrk -t2 -c50 -d10s, latest bus position: requests/s | $M | nginx static file: $N | $(ratio "$M" "$N" %.2f) (performance issue's goal >= 1.0; the REST issue's 0.5) |"
echo "| same run: p99 latency | $(wrk_p99 "$OUT/wrk-madbus.txt") | nginx: $(wrk_p99 "$OUT/wrk-nginx.txt") | |"
echo "| hey -n 1000 -c 10: average latency | $(awk '/Average:/ {print $2 " s"; exit}' "$OUT/hey-madbus.txt") | checklist limit: 0.5 s | |"
echo "| hey -n 1000 -c 10: status codes | $(hey_codes "$OUT/hey-madbus.txt")| | |"
echo "| wrk -c10 as-of at random times over 5 days: p99 | $(wrk_p99 "$OUT/wrk-asof.txt") | latest, same settings: $(wrk_p99 "$OUT/wrk-latest-c10.txt") | $(ratio "$(wrk_p99_ms "$OUT/wrk-asof.txt")" "$(wrk_p99_ms "$OUT/wrk-latest-c10.txt")" %.2f)x (goal < 2x) |"
echo "| non-2xx answers (madbus c50 / as-of / latest c10) | $(wrk_non2xx "$OUT/wrk-madbus.txt") / $(wrk_non2xx "$OUT/wrk-asof.txt") / $(wrk_non2xx "$OUT/wrk-latest-c10.txt") | | |"
echo "| as-of requests/s | $(rps "$OUT/wrk-asof.txt") | latest: $(rps "$OUT/wrk-latest-c10.txt") | $(ratio "$(rps "$OUT/wrk-asof.txt")" "$(rps "$OUT/wrk-latest-c10.txt")" %.2f) (goal >= 0.8) |"
echo "| the same, first 10 s after start (history read into memory as it is asked for) | $(rps "$OUT/wrk-asof-cold.txt"), p99 $(wrk_p99 "$OUT/wrk-asof-cold.txt") | latest: $(rps "$OUT/wrk-latest-c10.txt") | $(ratio "$(rps "$OUT/wrk-asof-cold.txt")" "$(rps "$OUT/wrk-latest-c10.txt")" %.2f) |"
echo "| as-of over the whole fleet ($(echo "$FLEET" | tr ',' '\n' | wc -l) buses): requests/s | $(rps "$OUT/wrk-asof-fleet.txt") | latest: $(rps "$OUT/wrk-latest-c10.txt") | $(ratio "$(rps "$OUT/wrk-asof-fleet.txt")" "$(rps "$OUT/wrk-latest-c10.txt")" %.2f) |"
echo "| same: p99 | $(wrk_p99 "$OUT/wrk-asof-fleet.txt") | latest: $(wrk_p99 "$OUT/wrk-latest-c10.txt") | $(ratio "$(wrk_p99_ms "$OUT/wrk-asof-fleet.txt")" "$(wrk_p99_ms "$OUT/wrk-latest-c10.txt")" %.2f)x |"
echo "| stretches of history read into memory / madbus's resident memory after all runs | ${STRETCHES:-0} / ${RSS_MB} MB | | |"
echo
echo "Access-log lines written: madbus $(grep -c '"routeKey"' "$OUT/madbus.log"), nginx $(wc -l < "$OUT/nginx-access.log")."
