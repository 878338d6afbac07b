#!/usr/bin/env bash
# Soak test (hardening issue): mixed REST, MCP and WebSocket load on loopback for
# MADBUS_SOAK_SECONDS (default 600), at a steady rate well under saturation, against a
# release madbus with its default limits. Reports requests, errors and the process's
# resident memory every 30 s (memory must stay flat): "start" is read after a 30 s warm-up,
# once what the backfill used has been given back.
#   REST: hey, 4 workers x 150 req/s on the latest position, 2 x 50 on a line snapshot
#   MCP:  hey, 2 workers x 50 req/s of tools/call (stateless Streamable HTTP)
#   WebSocket: 200 clients subscribed to every line and topic (bench/soak_ws.py)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need hey:hey curl:curl
SECONDS_TOTAL=${MADBUS_SOAK_SECONDS:-600}
PORT=18097
VENV="$OUT/soak-venv"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q websockets==15.0.1; }

# Default limits except the per-key bucket (this steady 900 req/s would exceed it) and the
# WebSocket connections per key (all 200 clients share one key).
GROUP=soak start_madbus "$PORT" 1d "$OUT/soak-madbus.log" --ws-max-per-key 1000
PID=$MADBUS_PID
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
URL="http://127.0.0.1:$PORT"
AUTH=(-H "x-api-key: $KEY" -H "x-group-name: soak")
BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query_bus_position","arguments":{"bus_id":"B001"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"soak","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'
MCP=(-m POST -T application/json -d "$BODY" -H "Accept: application/json, text/event-stream"
  -H "MCP-Protocol-Version: 2026-07-28" -H "Mcp-Method: tools/call" -H "Mcp-Name: query_bus_position")

echo "soak: ${SECONDS_TOTAL}s against pid $PID; rss after the backfill $(rss) kB"
hey -z "${SECONDS_TOTAL}s" -c 4 -q 150 "${AUTH[@]}" "$URL/bus-position/B001?mode=latest" > "$OUT/soak-rest.txt" &
H1=$!
hey -z "${SECONDS_TOTAL}s" -c 2 -q 50 "${AUTH[@]}" "$URL/bus-position/line/L1?mode=latest" > "$OUT/soak-line.txt" &
H2=$!
hey -z "${SECONDS_TOTAL}s" -c 2 -q 50 "${AUTH[@]}" "${MCP[@]}" "$URL/mcp" > "$OUT/soak-mcp.txt" &
H3=$!
"$VENV/bin/python" bench/soak_ws.py "ws://127.0.0.1:$PORT/ws" "$KEY" soak 200 "$SECONDS_TOTAL" > "$OUT/soak-ws.json" &
W=$!
CLEANUP+=("kill $H1 $H2 $H3 $W")
: > "$OUT/soak-rss.csv"
for ((t = 0; t < SECONDS_TOTAL; t += 30)); do
  echo "$t,$(rss)" >> "$OUT/soak-rss.csv"
  printf '  %4ds rss %s kB\n' "$t" "$(rss)"
  sleep 30
done
wait $H1 $H2 $H3 $W
START_RSS=$(awk -F, '$1 == 30 {print $2}' "$OUT/soak-rss.csv")
END_RSS=$(rss)
echo "$SECONDS_TOTAL,$END_RSS" >> "$OUT/soak-rss.csv"
MAX_RSS=$(awk -F, '$1 >= 30 {print $2}' "$OUT/soak-rss.csv" | sort -n | tail -1)
count() { awk '/^ *\[[0-9]+\][[:space:]]+[0-9]+ responses/ {s += $2} END {print s + 0}' "$1"; }
non2xx() { awk '/^ *\[[0-9]+\][[:space:]]+[0-9]+ responses/ {gsub(/[\[\]]/, "", $1); if ($1 !~ /^2/) s += $2} END {print s + 0}' "$1"; }
errs() { awk '/^Error distribution/ {on=1; next} on && /\[[0-9]+\]/ {s += $1 ~ /\[/ ? substr($1, 2) + 0 : 0} END {print s + 0}' "$1"; }
echo
echo "| load | requests | non-2xx | transport errors |"
echo "|---|---|---|---|"
for f in rest line mcp; do
  echo "| $f | $(count "$OUT/soak-$f.txt") | $(non2xx "$OUT/soak-$f.txt") | $(errs "$OUT/soak-$f.txt") |"
done
echo
echo "websocket: $(cat "$OUT/soak-ws.json")"
echo "rss after warm-up: start ${START_RSS} kB, end ${END_RSS} kB, max ${MAX_RSS} kB (end/start $(ratio "$END_RSS" "$START_RSS" '%.3fx'))"
