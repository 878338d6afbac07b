# Shared by the bench scripts (sourced): a release madbus with a key and throttling out of
# the way, on a temporary data dir that is removed on exit.
#   start_madbus PORT BACKFILL LOG [SERVE ARGS...]   sets BIN, DATA, KEY, MADBUS_PID; returns
#   once it is live (extra arguments go to `madbus serve`, after the defaults here; WRAP, if
#   set, is a command prefix such as `prlimit --nofile=600:600`)
# Scripts add their own clean-up steps to CLEANUP (run on exit, last added first).
OUT=bench/out
mkdir -p "$OUT"
CLEANUP=()
on_exit() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" 2>/dev/null || true; done
}
trap on_exit EXIT

# Installs the Debian packages whose commands are missing: need CMD:PACKAGE ...
need() {
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || apt-get install -y -qq "${pair#*:}" >/dev/null
  done
}

start_madbus() {
  local port=$1 backfill=$2 log=$3
  shift 3
  cargo build --release --quiet
  BIN=target/release/madbus
  DATA=$(mktemp -d)
  CLEANUP+=("rm -rf '$DATA'")
  KEY=$("$BIN" keys create --group "${GROUP:-bench}" --data-dir "$DATA" 2>/dev/null)
  ${WRAP:-} "$BIN" serve --data-dir "$DATA" --bind "127.0.0.1:$port" --backfill "$backfill" \
    --throttle-burst 1000000000 --throttle-rate 1000000000 "$@" > "$log" 2>&1 &
  MADBUS_PID=$!
  CLEANUP+=("kill $MADBUS_PID")
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/health" | grep -q '"phase":"live"' && return 0
    sleep 0.1
  done
  echo "madbus did not go live; see $log" >&2
  return 1
}

# nginx serving the files under $OUT/www as JSON on PORT, with its access log on (the
# baseline for REST): start_nginx PORT. Stopped on exit.
start_nginx() {
  local port=$1
  cat > "$OUT/nginx.conf" <<CONF
worker_processes auto;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $PWD/$OUT/nginx-access.log;
  server {
    listen 127.0.0.1:$port;
    location / { root $PWD/$OUT/www; default_type application/json; }
  }
}
CONF
  : > "$OUT/nginx-access.log"
  nginx -c "$PWD/$OUT/nginx.conf"
  CLEANUP+=("kill \$(cat '$OUT/nginx.pid')")
  sleep 0.5
}

# The REST comparison's two servers: madbus (a BACKFILL store) and nginx serving madbus's
# own latest answer for B001 as a static file. Sets H (the key headers), URL (madbus's
# latest) and NGINX_URL. start_latest_pair MADBUS_PORT NGINX_PORT BACKFILL LOG
start_latest_pair() {
  mkdir -p "$OUT/www/bus-position"
  start_madbus "$1" "$3" "$4"
  H=(-H "x-api-key: $KEY" -H "x-group-name: bench")
  URL="http://127.0.0.1:$1/bus-position/B001?mode=latest"
  curl -sf "${H[@]}" "$URL" > "$OUT/www/bus-position/B001"
  start_nginx "$2"
  NGINX_URL="http://127.0.0.1:$2/bus-position/B001"
}

# CPU time (user + system, in clock ticks) the processes PID... have used so far.
cpu_ticks() {
  local total=0 p
  for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$total"
}
# Microseconds of CPU per request over a wrk run: us_per_request TICKS WRK_REPORT. Steadier
# than requests/s on a shared machine (BENCHMARKS.md, sixth session).
us_per_request() {
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" '/requests in/ {printf "%.1f", t * 1e6 / hz / $1}' "$2"
}
# Runs COMMAND... (wrk) with its report in FILE, and prints the CPU microseconds per request
# that the processes PIDS (one word, space-separated) spent meanwhile:
# cpu_per_request FILE "PIDS" COMMAND...
cpu_per_request() {
  local file=$1 pids=$2 t0
  shift 2
  # shellcheck disable=SC2086 # PIDS is a list
  t0=$(cpu_ticks $pids)
  "$@" > "$file"
  # shellcheck disable=SC2086
  us_per_request $(($(cpu_ticks $pids) - t0)) "$file"
}

# Server-side latency, from the access log (each line's latencyMs: the gateway's time for the
# request, without the load tool's wait for a core): "p99 p99.9" in ms over the lines
# written to LOG after byte OFFSET (take it with `stat -c %s LOG` before the run).
# The log shows microseconds.
server_latency_ms() {
  tail -c +"$(($2 + 1))" "$1" | grep -o '"latencyMs":[0-9.]*' | cut -d: -f2 | sort -g |
    awk '{v[NR] = $1}
      function at(q,  i) { i = int(NR * q); if (i < NR * q) i++; return v[i < 1 ? 1 : i] }
      END { if (NR) printf "%s %s\n", at(0.99), at(0.999); else print "- -" }'
}
# The median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2}'; }

# Figures from the load tools' reports.
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }                        # wrk or hey
wrk_p99() { awk '$1 == "99%" {print $2}' "$1"; }
# The same in milliseconds, as a number (wrk prints us, ms or s).
wrk_p99_ms() {
  awk '$1 == "99%" {v = $2 + 0; if ($2 ~ /us$/) v /= 1000; else if ($2 ~ /[0-9]s$/) v *= 1000; print v}' "$1"
}
hey_p99() { awk '/99% in/ {print $3 * 1000 " ms"}' "$1"; }
# wrk prints this line only when some answers were not 2xx/3xx.
wrk_non2xx() { awk '/Non-2xx/ {print $NF; found=1} END {if (!found) print 0}' "$1"; }
hey_codes() { awk '/^ *\[[0-9]+\][[:space:]]+[0-9]+ responses/ {printf "%s x%s ", $1, $2}' "$1"; }
ratio() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN{printf f, a/b}'; }
