#!/usr/bin/env bash
# WebSocket fan-out benchmark (live feed issue): see benches/ws.rs. Loopback only.
# Levels can be chosen with MADBUS_WS_LEVELS=100,1000,5000.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || apt-get install -y -qq curl >/dev/null
# Each client is two sockets on this machine (its own and the server's).
ulimit -n "$(ulimit -Hn)"
cargo bench --bench ws
