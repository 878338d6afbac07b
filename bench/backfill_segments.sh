#!/usr/bin/env bash
# Where a long backfill's time goes, segment by segment: runs `madbus serve --backfill SPAN`
# (default 30d) on a temporary store, samples every thread's CPU time each second, and for
# each 10 % of the backfill (its progress log lines) prints the wall time, the simulation
# thread's CPU time (the same work in every segment: a yardstick of the machine's speed) and
# the rest of the process's CPU time (the store's writes), and the ratio of the two.
# A store whose writes grow dearer as it grows shows a rising ratio; a machine that slows
# down shows every column rising together.
# Usage: bash bench/backfill_segments.sh [SPAN]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SPAN=${1:-30d}
cargo build --release --quiet
DATA=$(mktemp -d)
CLEANUP+=("rm -rf '$DATA'")
LOG=$OUT/backfill-segments.log
SAMPLES=$OUT/backfill-segments.samples
target/release/madbus serve --data-dir "$DATA" --bind 127.0.0.1:0 --backfill "$SPAN" > "$LOG" 2>&1 &
PID=$!
CLEANUP+=("kill $PID")
: > "$SAMPLES"
# One line a second until live, and one after: time, then name/tid=CPU ns of every thread.
sample() {
  local line task name ns
  line="$(date +%s.%N)"
  for task in /proc/"$PID"/task/*; do
    name=$(cat "$task/comm" 2>/dev/null) || continue
    ns=$(cut -d' ' -f1 "$task/schedstat" 2>/dev/null) || continue
    line+=" ${name// /_}/${task##*/}=$ns"
  done
  echo "$line" >> "$SAMPLES"
}
while kill -0 "$PID" 2>/dev/null && ! grep -q 'running live' "$LOG"; do
  sample
  sleep 1
done
sample
python3 - "$LOG" "$SAMPLES" <<'PY'
import bisect, datetime, json, sys
log, samples = sys.argv[1:]
marks = []
for line in open(log):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("message") in ("backfilling", "caught up with the clock; running live"):
        marks.append(datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp())
rows = []
for line in open(samples):
    t, *threads = line.split()
    rows.append((float(t), {k: int(v) for k, v in (x.rsplit("=", 1) for x in threads)}))
times = [t for t, _ in rows]
def at(t):
    return rows[min(bisect.bisect_left(times, t), len(rows) - 1)][1]
print("| segment | wall s | simulation CPU s | store writes CPU s | writes / simulation |")
print("|---|---|---|---|---|")
for i, (a, b) in enumerate(zip(marks, marks[1:])):
    start, end = at(a), at(b)
    diff = {k: end[k] - start.get(k, 0) for k in end}
    sim = sum(v for k, v in diff.items() if k.startswith("madbus-sim/")) / 1e9
    rest = sum(v for k, v in diff.items() if not k.startswith("madbus-sim/")) / 1e9
    print(f"| {i + 1} | {b - a:.1f} | {sim:.2f} | {rest:.2f} | {rest / max(sim, 1e-9):.1f} |")
PY
