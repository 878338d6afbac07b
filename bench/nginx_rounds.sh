#!/usr/bin/env bash
# REST latest against nginx in alternating rounds on one madbus and one nginx (ROUNDS,
# default 3): wrk -t2 -c50 -d10s on GET /bus-position/B001?mode=latest with a key, access
# logs on, then the same body as nginx's static file. Alternating takes the machine's drift
# out of the ratio (bench/http.sh measures each once). Also each server's CPU time per
# request (nginx: its workers). Loopback only.
# Usage: bash bench/nginx_rounds.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk nginx:nginx-light
ROUNDS=${1:-3}
start_latest_pair 18092 18093 1d "$OUT/rounds-madbus.log"
mapfile -t NGINX_WORKERS < <(pgrep -P "$(cat "$OUT/nginx.pid")")
echo "| round | madbus req/s | p99 | CPU/req | nginx req/s | p99 | CPU/req | ratio | CPU ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for ((r = 1; r <= ROUNDS; r++)); do
  mc=$(cpu_per_request "$OUT/rounds-madbus.txt" "$MADBUS_PID" \
    wrk -t2 -c50 -d10s --latency "${H[@]}" "$URL")
  nc=$(cpu_per_request "$OUT/rounds-nginx.txt" "${NGINX_WORKERS[*]}" \
    wrk -t2 -c50 -d10s --latency "$NGINX_URL")
  m=$(rps "$OUT/rounds-madbus.txt"); n=$(rps "$OUT/rounds-nginx.txt")
  echo "| $r | $m | $(wrk_p99 "$OUT/rounds-madbus.txt") | ${mc} µs | $n | $(wrk_p99 "$OUT/rounds-nginx.txt") | ${nc} µs | $(ratio "$m" "$n" '%.2f') | $(ratio "$mc" "$nc" '%.2f') |"
done
