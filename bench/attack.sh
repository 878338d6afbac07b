#!/usr/bin/env bash
# The outsider's attacks of the hardening issue, replayed against a release madbus on
# loopback, with counts (RELIABILITY.md):
#   1. 700 sockets that send nothing, and 100 that send headers a byte a second, under a
#      600-file limit: does /health still answer, are they closed, does accept fail?
#   2. 3,000 requests with random 20-letter methods and paths, no key: /metrics size and RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need curl:curl
PORT=18098
# A 600-file limit, as in the report (soft and hard, so madbus cannot raise it).
need prlimit:util-linux
GROUP=attack WRAP="prlimit --nofile=600:600" start_madbus "$PORT" 1h "$OUT/attack-madbus.log"
PID=$MADBUS_PID
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

echo "== 1. idle and slow sockets (600-file limit)"
python3 - "$PORT" <<'PY'
import socket, sys, threading, time, urllib.request
port = int(sys.argv[1])
idle = []
for _ in range(700):
    s = socket.socket(); s.setblocking(True)
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass  # the backlog is full: the server is not accepting more now
    idle.append(s)
slow = []
for _ in range(100):
    s = socket.socket(); s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port)); slow.append(s)
    except OSError:
        pass
def trickle():
    for i in range(30):
        for s in list(slow):
            try: s.send(b"G")
            except OSError: slow.remove(s)
        time.sleep(1)
t = threading.Thread(target=trickle); t.start()
def health():
    start = time.time()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=15) as r:
            return r.status, time.time() - start
    except Exception as e:
        return str(e), time.time() - start
t0 = time.time()
answers = []
for second in (1, 5, 12, 20):
    time.sleep(max(0.0, t0 + second - time.time()))
    answers.append((second, *health()))
def open_count(socks):
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            d = s.recv(1)
            if d == b"": continue
            n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n
t.join()
print(f"  /health during the attack (t s, status, latency): " + ", ".join(f"{a}s {b} {c*1000:.0f}ms" for a, b, c in answers))
print(f"  still open after 30 s: idle {open_count(idle)} of 700, slow {len(slow)} of 100")
PY
echo "  'Too many open files' lines in the log: $(grep -c 'Too many open files' "$OUT/attack-madbus.log" || true)"

echo "== 2. 3,000 requests with random methods and paths, no key"
before=$(curl -sf -H "x-api-key: $KEY" -H "x-group-name: attack" "http://127.0.0.1:$PORT/metrics" | wc -c)
rss_before=$(rss)
python3 - "$PORT" <<'PY'
import random, socket, string, sys
port = int(sys.argv[1])
for i in range(3000):
    m = "".join(random.choices(string.ascii_uppercase, k=20))
    p = "/" + "".join(random.choices(string.ascii_lowercase, k=20))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"{m} {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    while s.recv(4096): pass
    s.close()
PY
after=$(curl -sf -H "x-api-key: $KEY" -H "x-group-name: attack" "http://127.0.0.1:$PORT/metrics" | wc -c)
echo "  /metrics: $before bytes before, $after after; rss: $rss_before kB before, $(rss) kB after"
