#!/usr/bin/env bash
# --limit-rate: how closely the whole run's cap holds. For each RATE, one
# file sized for SECONDS of transfer at that rate (default 10 s), and then
# the same bytes split over 8 files on 4 I/O threads (the cap is for the
# whole run, not per download), fetched from slow_server.py on 127.0.0.1
# (unthrottled). The achieved rate is bytes / wall time of the pixmill
# process (start-up included, which only lowers it); the error is
# (achieved - cap) / cap. The issue asks for |error| <= 10%.
#
# usage: limit_rate.sh [RATE...]   (default: 100K 1M 4M)
# env:   PIXMILL, SECONDS_EACH (10), ROUNDS (3), OUT (Markdown table;
#        default stdout)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(100K 1M 4M)
secs=${SECONDS_EACH:-10}
rounds=${ROUNDS:-3}
need python3
find_pixmill
make_scratch limit-rate
root="$SCRATCH/root"; mkdir -p "$root"

bytes_of() { # 100K -> 102400 (pixmill's units: K = 1024)
  python3 -c 'import sys; s=sys.argv[1].upper(); m={"K":1024,"M":1024**2,"G":1024**3}
print(int(float(s[:-1])*m[s[-1]]) if s[-1] in m else int(s))' "$1"
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$BENCH_DIR/slow_server.py" "$root" "$port" >"$SCRATCH/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

{
  echo "| cap | files | bytes | median s | achieved B/s | error |"
  echo "|---|---|---|---|---|---|"
  for rate in "${rates[@]}"; do
    cap=$(bytes_of "$rate")
    total=$((cap * secs))
    for files in 1 8; do
      rm -f "$root"/*.bin
      each=$((total / files))
      for i in $(seq 1 "$files"); do head -c "$each" /dev/urandom >"$root/r$rate-$i.bin"; done
      for i in $(seq 1 "$files"); do echo "http://127.0.0.1:$port/f/r$rate-$i.bin"; done >"$SCRATCH/urls.txt"
      times=()
      for _ in $(seq 1 "$rounds"); do
        rm -rf "$SCRATCH/out"
        t0=$(date +%s.%N)
        "$PIXMILL" fetch -q -m "$SCRATCH/urls.txt" -o "$SCRATCH/out" --io-threads 4 --limit-rate "$rate" >/dev/null
        t1=$(date +%s.%N)
        times+=("$(python3 -c "print($t1 - $t0)")")
      done
      python3 - "$rate" "$files" "$((each * files))" "$cap" "${times[@]}" <<'PY'
import statistics, sys
rate, files, size, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = statistics.median(float(x) for x in sys.argv[5:])
got = size / t
print(f"| {rate} | {files} | {size} | {t:.2f} | {got:.0f} | {100 * (got - cap) / cap:+.1f}% |")
PY
    done
  done
} | if [ -n "${OUT:-}" ]; then tee "$OUT"; else cat; fi
