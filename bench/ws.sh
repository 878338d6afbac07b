#!/usr/bin/env bash
# WebSocket fan-out benchmark (live feed and performance issues): see benches/ws.rs.
# Loopback only. MADBUS_WS_LEVELS=1000,5000,10000 (clients), MADBUS_WS_TOPOLOGIES=single,node
# (node: the Node.js `ws` baseline; nats: two API processes over nats-server) and
# MADBUS_WS_MODES=per-bus,batched choose what runs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || apt-get install -y -qq curl >/dev/null
command -v node >/dev/null || apt-get install -y -qq nodejs npm >/dev/null
[ -d bench/node/node_modules/ws ] || (cd bench/node && npm ci --silent --no-audit --no-fund)
# Each client is two sockets on this machine (its own and the server's).
ulimit -n "$(ulimit -Hn)"
cargo bench --bench ws
