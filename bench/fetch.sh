#!/usr/bin/env bash
# pixmill's I/O stage against peer downloaders, in one run, on a loopback
# server that adds LATENCY_MS to every request (slow_server.py).
#
# Part 1: N small files (2-20 KB random bytes) on one host, fetched by
#   `pixmill fetch --io-threads THREADS` with no other flag (the per-host
#   level is learnt), by pixmill with `--per-host THREADS` fixed, by
#   peer_fetch.py (Python ThreadPoolExecutor) and by aria2c, each with
#   THREADS connections; alternating over ROUNDS, medians. Every run must
#   save every file byte for byte. Reports wall time / ideal
#   (N x latency / THREADS) and pixmill / each peer.
# Part 2: converting from URLs overlaps download and decode. Serves up to
#   CONVERT_N JPEGs from $CORPUS and times (i) pixmill fetch, (ii) pixmill
#   convert of the same files from disk, (iii) pixmill convert -m URLs;
#   reports (iii) / max(i, ii) (1.0 = perfect overlap) and (iii) / (i + ii)
#   (1.0 = no overlap at all).
#
# Part 3: a server that answers 429 above LIMIT (4) requests in flight:
#   `pixmill fetch --io-threads THREADS` (learnt level) and with
#   `--per-host THREADS` (fixed); per run the server's peak concurrency, the
#   429s it sent, and whether every file arrived.
#
# usage: fetch.sh [N=300] [LATENCY_MS=50] [THREADS=32]
# env:   ROUNDS (3), CORPUS (/work/corpus), CONVERT_N (40), PARTS ("1 2 3"), LIMIT (4),
#        PIXMILL, BASE (an older pixmill, run beside it in parts 1 and 3), OUT (Markdown results; default bench/results-fetch-DATE.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

nfiles=${1:-300}
latency=${2:-50}
threads=${3:-32}
rounds=${ROUNDS:-3}
parts=${PARTS:-1 2 3}
limit=${LIMIT:-4}
corpus=${CORPUS:-/work/corpus}
convert_n=${CONVERT_N:-40}
need python3 aria2c curl
find_pixmill
case " $parts " in *" 2 "*)
  [ -d "$corpus" ] || die "part 2 needs real photos: set CORPUS=DIR (make one with: bash $BENCH_DIR/corpus.sh DIR), or PARTS=1" ;;
esac

make_scratch fetch
server_pid=
limited_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  [ -z "$limited_pid" ] || kill "$limited_pid" 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
MD=${OUT:-$BENCH_DIR/results-fetch-$(date +%Y%m%d-%H%M%S).md}
root="$SCRATCH/root"
mkdir -p "$root"

# N small files of random bytes, 2-20 KB (fixed seed: same sizes every run).
python3 - "$root" "$nfiles" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
for i in range(n):
    with open(os.path.join(root, "s%05d.bin" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(2048, 20480)))
EOF

# Photos for part 2: hard links (or copies) in the server root and locally.
photos=()
if [ -d "$corpus" ]; then
  mapfile -d '' photos < <(find "$corpus" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) -print0 | sort -z | head -z -n "$convert_n")
fi
if [ ${#photos[@]} -gt 0 ]; then
  link_into "$SCRATCH/photos" "${photos[@]}"
  link_into "$root" "$SCRATCH"/photos/*
else
  case " $parts " in *" 2 "*) die "no JPEGs under $corpus" ;; esac
fi

# start_server PORT ARGS... : slow_server.py on a loopback port, waited for.
start_server() {
  local port=$1 pid
  shift
  python3 "$BENCH_DIR/slow_server.py" "$root" "$port" "$@" >"$SCRATCH/server-$port.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || die "slow_server.py exited: $(cat "$SCRATCH/server-$port.log")"
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "slow_server.py did not listen on 127.0.0.1:$port"
  STARTED_PID=$pid
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
start_server "$port" --latency "$latency"
server_pid=$STARTED_PID
base="http://127.0.0.1:$port/f"

# URL lists. aria2c gets an `out=` line per URL so names never clash.
for f in "$root"/s*.bin; do echo "$base/$(basename "$f")"; done >"$SCRATCH/urls.txt"
while read -r u; do printf '%s\n  out=%s\n' "$u" "${u##*/}"; done <"$SCRATCH/urls.txt" >"$SCRATCH/aria2.txt"
for f in "${photos[@]}"; do echo "$base/$(basename "$f")"; done >"$SCRATCH/photo-urls.txt"

# What a correct download holds: the multiset of file hashes (names differ:
# peer_fetch.py names files by line number).
hashes() { find "$1" -type f -exec sha256sum {} + | cut -d' ' -f1 | sort; }
(cd "$root" && sha256sum s*.bin | cut -d' ' -f1 | sort) >"$SCRATCH/want.sha"

bench_run() {
  local label=$1 out=$2
  case $W:$label in
    # All URLs share one host. `pixmill` is what a new user types; the
    # per-host row fixes the level at the thread count, as the peers have
    # no per-host cap.
    fetch:pixmill)    "$PIXMILL" fetch -m "$SCRATCH/urls.txt" -o "$out" --io-threads "$threads" -q ;;
    fetch:pixmill-base) "$BASE" fetch -m "$SCRATCH/urls.txt" -o "$out" --io-threads "$threads" -q ;;
    fetch:pixmill-per-host) "$PIXMILL" fetch -m "$SCRATCH/urls.txt" -o "$out" --io-threads "$threads" --per-host "$threads" -q ;;
    fetch:peer_fetch) python3 "$BENCH_DIR/peer_fetch.py" "$SCRATCH/urls.txt" "$out" "$threads" ;;
    fetch:aria2c)     aria2c -j "$threads" -x 1 -i "$SCRATCH/aria2.txt" -d "$out" \
                        --allow-overwrite=true --auto-file-renaming=false -q ;;
    overlap:fetch-only)    "$PIXMILL" fetch -m "$SCRATCH/photo-urls.txt" -o "$out" --io-threads "$threads" --per-host "$threads" --no-keep-alive -q ;;
    overlap:convert-local) "$PIXMILL" convert "$SCRATCH/photos" -o "$out" --resize 256x256 --format jpeg --quality 85 -q ;;
    overlap:convert-urls)  "$PIXMILL" convert -m "$SCRATCH/photo-urls.txt" -o "$out" --resize 256x256 --format jpeg \
                             --quality 85 -q --io-threads "$threads" --per-host "$threads" --no-keep-alive ;;
    *) die "no command for $W:$label" ;;
  esac
}

bench_check() {
  local out=$2 got
  got=$(count_outputs "$out")
  if [ "$W" = fetch ]; then
    [ "$got" -eq "$nfiles" ] || { echo "$got/$nfiles files"; return; }
    hashes "$out" | cmp -s - "$SCRATCH/want.sha" || echo "$nfiles files but contents differ from the served files"
  else
    [ "$got" -eq "${#photos[@]}" ] || echo "$got/${#photos[@]} outputs"
  fi
}

# med W LABEL : median seconds of LABEL in workload W.
med() { local m; read -r m _ < <(stats <(grep . "$SCRATCH/times/$1/$2")); echo "$m"; }

md_header "pixmill fetch vs peers (fetch.sh)"
echo "- server: slow_server.py on loopback, ${latency} ms per request; rounds: $rounds, alternating; $(aria2c --version | head -n 1)" >>"$MD"

case " $parts " in *" 1 "*)
  ideal=$(awk -v n="$nfiles" -v l="$latency" -v t="$threads" 'BEGIN { printf "%.3f", n * l / 1000 / t }')
  title="fetch: $nfiles files of 2-20 KB, ${latency} ms latency, $threads threads (ideal ${ideal} s)"
  note "$title"
  labels=(pixmill pixmill-per-host peer_fetch aria2c)
  [ -z "${BASE:-}" ] || labels=(pixmill pixmill-base pixmill-per-host peer_fetch aria2c)
  run_rounds fetch "$rounds" "${labels[@]}"
  summarize fetch "$title" "${labels[@]}"
  printf '\n%-24s %10s %10s\n' tool "median s" "÷ ideal"
  printf '\n| tool | median s | ÷ ideal (%s s) |\n|---|---:|---:|\n' "$ideal" >>"$MD"
  for l in "${labels[@]}"; do
    m=$(med fetch "$l"); r=$(awk -v a="$m" -v b="$ideal" 'BEGIN { printf "%.2f", a / b }')
    printf '%-24s %10s %10s\n' "$l" "$m" "$r"
    printf '| %s | %s | %s |\n' "$l" "$m" "$r" >>"$MD"
  done
  pm=$(med fetch pixmill)
  echo >>"$MD"
  for l in peer_fetch aria2c; do
    r=$(awk -v a="$pm" -v b="$(med fetch "$l")" 'BEGIN { printf "%.2f", a / b }')
    echo "pixmill / $l = $r"; echo "- pixmill / $l = $r" >>"$MD"
  done
  ;;
esac

case " $parts " in *" 2 "*)
  title="overlap: ${#photos[@]} photos over URLs (${latency} ms, $threads threads), resize 256 JPEG q85"
  note "$title"
  run_rounds overlap "$rounds" fetch-only convert-local convert-urls
  printf '\n== %s\n%-24s %10s %10s  %s\n' "$title" step "median s" "min s" outputs
  printf '\n### %s\n\n| step | median s | min s | outputs |\n|---|---:|---:|---|\n' "$title" >>"$MD"
  for l in fetch-only convert-local convert-urls; do
    read -r m mn < <(stats <(grep . "$SCRATCH/times/overlap/$l"))
    flag=ok; [ ! -s "$SCRATCH/bad/overlap/$l" ] || flag="FLAGGED: $(head -n 1 "$SCRATCH/bad/overlap/$l")"
    printf '%-24s %10s %10s  %s\n' "$l" "$m" "$mn" "$flag"
    printf '| %s | %s | %s | %s |\n' "$l" "$m" "$mn" "$flag" >>"$MD"
  done
  read -r vs_max vs_sum < <(awk -v i="$(med overlap fetch-only)" -v c="$(med overlap convert-local)" -v u="$(med overlap convert-urls)" \
    'BEGIN { printf "%.2f %.2f\n", u / (i > c ? i : c), u / (i + c) }')
  echo "(iii) convert-urls / max(fetch, convert) = $vs_max   (1.00 = download fully hidden behind decode)"
  echo "(iii) convert-urls / (fetch + convert)   = $vs_sum   (1.00 = no overlap)"
  printf '\n- convert-urls / max(fetch-only, convert-local) = **%s** (1.00 = fully overlapped)\n- convert-urls / (fetch-only + convert-local) = **%s** (1.00 = no overlap)\n' "$vs_max" "$vs_sum" >>"$MD"
  ;;
esac
case " $parts " in *" 3 "*)
  lport=$(free_port)
  start_server "$lport" --latency "$latency" --limit "$limit"
  limited_pid=$STARTED_PID
  sed "s#http://127.0.0.1:$port/#http://127.0.0.1:$lport/#" "$SCRATCH/urls.txt" >"$SCRATCH/limited-urls.txt"
  title="rate-limited server: 429 above $limit in flight, $nfiles files, ${latency} ms, $threads threads"
  note "$title"
  printf '\n== %s\n%-24s %6s %8s %6s %6s  %s\n' "$title" run seconds "peak" "429s" files check
  printf '\n### %s\n\n| run | seconds | server peak in flight | 429s sent | files |\n|---|---:|---:|---:|---:|\n' "$title" >>"$MD"
  for r in $(seq "$rounds"); do
    limited=(pixmill pixmill-per-host)
    [ -z "${BASE:-}" ] || limited=(pixmill pixmill-base pixmill-per-host)
    for label in "${limited[@]}"; do
      out="$SCRATCH/limited-$label-$r"
      bin=$PIXMILL; [ "$label" != pixmill-base ] || bin=$BASE
      extra=(); [ "$label" != pixmill-per-host ] || extra=(--per-host "$threads")
      curl -s "http://127.0.0.1:$lport/stats" >/dev/null
      t0=$(now)
      "$bin" fetch -m "$SCRATCH/limited-urls.txt" -o "$out" --io-threads "$threads" "${extra[@]}" -q >/dev/null || true
      t=$(elapsed "$t0" "$(now)")
      read -r peak refused < <(curl -s "http://127.0.0.1:$lport/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["peak"], d["refused"])')
      got=$(count_outputs "$out")
      printf '%-24s %6s %8s %6s %6s\n' "$label#$r" "$t" "$peak" "$refused" "$got/$nfiles"
      printf '| %s (round %s) | %s | %s | %s | %s/%s |\n' "$label" "$r" "$t" "$peak" "$refused" "$got" "$nfiles" >>"$MD"
      rm -rf "$out"
    done
  done
  ;;
esac
echo
echo "Markdown written to $MD"
