#!/usr/bin/env bash
# Store layouts for the 5-day backfill goal (performance issue): backfills 5 days with the
# release madbus, then bench/store_layouts.py copies its bus positions into the store's
# layout and the alternatives, and reads them back. Loopback only.
# Usage: [PAGE_SIZE=N] bash bench/store_layouts.sh [VARIANTS, comma-separated]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need curl:curl python3:python3
start_madbus 18096 5d "$OUT/store-layouts.log"
kill "$MADBUS_PID" && wait "$MADBUS_PID" 2>/dev/null || true
WORK=$(mktemp -d)
CLEANUP+=("rm -rf '$WORK'")
python3 bench/store_layouts.py "$DATA/madbus.db" "$WORK" "$@"
