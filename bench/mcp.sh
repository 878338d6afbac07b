#!/usr/bin/env bash
# MCP benchmark (MCP issue). Loopback only; every load is bounded in time.
#   tools/call query_bus_position (latest) over Streamable HTTP at concurrency 10 (hey, and
#   wrk, which leaves more of the 2 cores to the servers), against
#   madbus (release, behind its gateway: key check, throttling raised out of the way, access
#   log on) and against a minimal server built with the official Python SDK
#   (bench/mcp_baseline.py) answering the same tool from the same SQLite file, same run.
# Both get the same stateless 2026-07-28 request (the headers and _meta it requires).
# Also the same tool through the checklist's plain HTTP route (same gateway, no rmcp).
# Needs hey and wrk (Debian packages) and the .venv that .ci/run makes.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need hey:hey wrk:wrk
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -r tests/python/requirements.txt; }
MADBUS_PORT=18095
PY_PORT=18096
start_madbus $MADBUS_PORT 1d "$OUT/mcp-madbus.log"
.venv/bin/python bench/mcp_baseline.py "$DATA/madbus.db" $PY_PORT > "$OUT/mcp-python.log" 2>&1 &
CLEANUP+=("kill $!")
for _ in $(seq 1 100); do
  # A GET on /mcp would open an event stream: only check the port answers.
  curl -s -o /dev/null -m 1 -X POST "http://127.0.0.1:$PY_PORT/mcp" && break
  sleep 0.1
done

BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query_bus_position","arguments":{"bus_id":"B001"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'
MCP_HEADERS=(-H "Accept: application/json, text/event-stream" -H "MCP-Protocol-Version: 2026-07-28"
  -H "Mcp-Method: tools/call" -H "Mcp-Name: query_bus_position")
AUTH=(-H "x-api-key: $KEY" -H "x-group-name: bench")
load() { hey -z 10s -c 10 -m POST -T application/json -d "$BODY" "${MCP_HEADERS[@]}" "$@"; }

# One checked answer from each before loading them.
for url in "http://127.0.0.1:$MADBUS_PORT/mcp" "http://127.0.0.1:$PY_PORT/mcp"; do
  curl -sf -X POST "$url" -H "Content-Type: application/json" "${MCP_HEADERS[@]}" "${AUTH[@]}" -d "$BODY" \
    | grep -q '"bus_id' || { echo "no tool answer from $url" >&2; exit 1; }
done

load "${AUTH[@]}" "http://127.0.0.1:$MADBUS_PORT/mcp" > "$OUT/hey-mcp-madbus.txt"
load "http://127.0.0.1:$PY_PORT/mcp" > "$OUT/hey-mcp-python.txt"
hey -z 10s -c 10 -m POST -T application/json "${AUTH[@]}" \
  -d '{"tool":"query_bus_position","arguments":{"bus_id":"B001"}}' \
  "http://127.0.0.1:$MADBUS_PORT/mcp/call-tool" > "$OUT/hey-contract-madbus.txt"
export MADBUS_KEY=$KEY MADBUS_GROUP=bench
wrk -t2 -c10 -d10s --latency -s bench/mcp_call.lua "http://127.0.0.1:$MADBUS_PORT/mcp" > "$OUT/wrk-mcp-madbus.txt"
wrk -t2 -c10 -d10s --latency -s bench/mcp_call.lua "http://127.0.0.1:$PY_PORT/mcp" > "$OUT/wrk-mcp-python.txt"

M=$(rps "$OUT/hey-mcp-madbus.txt"); P=$(rps "$OUT/hey-mcp-python.txt")
echo "## MCP tools/call benchmark ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "| measure | madbus | Python mcp baseline | ratio |"
echo "|---|---|---|---|"
echo "| hey -c 10 -z 10s, tools/call query_bus_position: requests/s | $M | $P | $(ratio "$M" "$P" %.1f)x (performance issue's goal >= 30x; the MCP issue's 20x) |"
echo "| p99 latency | $(hey_p99 "$OUT/hey-mcp-madbus.txt") | $(hey_p99 "$OUT/hey-mcp-python.txt") | |"
echo "| status codes | $(hey_codes "$OUT/hey-mcp-madbus.txt")| $(hey_codes "$OUT/hey-mcp-python.txt")| |"
WM=$(rps "$OUT/wrk-mcp-madbus.txt"); WP=$(rps "$OUT/wrk-mcp-python.txt")
echo "| wrk -t2 -c10 -d10s, same request: requests/s | $WM | $WP | $(ratio "$WM" "$WP" %.1f)x (performance issue's goal >= 30x; the MCP issue's 20x) |"
echo "| wrk p99 latency | $(wrk_p99 "$OUT/wrk-mcp-madbus.txt") | $(wrk_p99 "$OUT/wrk-mcp-python.txt") | |"
echo "| wrk non-2xx answers | $(wrk_non2xx "$OUT/wrk-mcp-madbus.txt") | $(wrk_non2xx "$OUT/wrk-mcp-python.txt") | |"
C=$(rps "$OUT/hey-contract-madbus.txt")
echo "| hey -c 10, the same tool via POST /mcp/call-tool (no rmcp): requests/s | $C | | $(ratio "$C" "$P" %.1f)x the baseline |"
