#!/usr/bin/env bash
# Same-run comparison of two madbus builds on the REST hot path: this tree against git
# revision REV (built in a temporary worktree), alternating, ROUNDS times (default 7).
#   wrk -t2 -c50 -d10s, GET /bus-position/B001?mode=latest with a key, throttling raised,
#   access log on (to a file), each server on a fresh 1-day backfill. Loopback only.
# Usage: bash bench/compare.sh REV [ROUNDS]     (REV may also be the path of a built binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need wrk:wrk curl:curl
REV=$1
ROUNDS=${2:-7}
if [ -x "$REV" ]; then
  OLD_BIN=$REV
else
  OLD=$(mktemp -d)
  CLEANUP+=("git worktree remove --force '$OLD'")
  git worktree add -q --detach "$OLD" "$REV"
  (cd "$OLD" && cargo build --release --quiet)
  OLD_BIN=$OLD/target/release/madbus
fi
cargo build --release --quiet
one() { # BIN PORT LABEL
  local bin=$1 port=$2 label=$3 d key pid
  d=$(mktemp -d)
  key=$("$bin" keys create --group ab --data-dir "$d" 2>/dev/null)
  "$bin" serve --data-dir "$d" --bind "127.0.0.1:$port" --backfill 1d \
    --throttle-burst 1000000000 --throttle-rate 1000000000 > "$d/access.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/health" | grep -q '"phase":"live"' && break
    sleep 0.1
  done
  wrk -t2 -c50 -d10s --latency -H "x-api-key: $key" -H "x-group-name: ab" \
    "http://127.0.0.1:$port/bus-position/B001?mode=latest" > "$OUT/compare-$port.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
  echo "$label $(rps "$OUT/compare-$port.txt") $(wrk_p99 "$OUT/compare-$port.txt")"
}
echo "| round | $REV req/s | p99 | this tree req/s | p99 | ratio |"
echo "|---|---|---|---|---|---|"
for ((r = 1; r <= ROUNDS; r++)); do
  read -r _ a ap < <(one "$OLD_BIN" 18201 old)
  read -r _ b bp < <(one target/release/madbus 18202 new)
  echo "| $r | $a | $ap | $b | $bp | $(ratio "$b" "$a" '%.2f') |"
done
