#!/usr/bin/env bash
# pixmill vs img2dataset building the same WebDataset from the same CSV of
# web-sized image URLs with captions, served on loopback with added latency.
#
# usage: bench/dataset.sh [N=1000] [ROUNDS=3] [LATENCY_MS=50]
#
# The server is dataset_server.py: it answers on every 127.0.0.0/8 address
# (loopback clients only) from one asyncio loop with the files in memory, so
# the CPU it takes from the machine the tools share is small (reported per
# run); SERVER_IMPL=http.server uses slow_server.py (multihost_server.py when
# HOSTS > 1) instead, Python's thread-per-connection http.server, as runs
# before 2026-12-04 did.
#
# Large lists over many sites: HOSTS=K spreads the rows over K host
# addresses (127.0.0.1, 127.0.0.2, ...), and an N above CORPUS_MAX (1000) repeats
# the corpus's images under distinct URLs (another host, or a query), so
#   HOSTS=1000 bench/dataset.sh 100000 1
# is a 100,000-row list over 1000 sites without 100,000 files on disk.
#
# VARIANTS="never if-needed lanczos3" adds pixmill runs with --reencode
# never (the downloaded bytes kept, checked to decode; no resize) and
# if-needed (same resize as the main run), for the re-encoding cost, and
# with pixmill's own default filter (lanczos3) instead of area.
#
# Both tools get equivalent settings and no network tuning:
#   img2dataset --input_format csv --url_col url --caption_col caption
#     --save_additional_columns '["source_id"]' --output_format webdataset
#     --image_size 256 --resize_mode keep_ratio --encode_quality 95
#     --number_sample_per_shard PER_SHARD          (its default processes/threads)
#   pixmill convert -m list.csv -o OUT --output-format webdataset
#     --samples-per-file PER_SHARD -r 256x256 --fit outside --enlarge
#     --filter area -f jpeg --quality 95 --subsampling 420 --hash sha256 -q
# keep_ratio scales the shorter side to 256 (up or down; it never crops),
# which is --fit outside --enlarge; img2dataset's JPEGs are quality 95, 4:2:0
# (OpenCV's default) and it hashes each download with SHA-256 by default.
# Both resample the same way: img2dataset uses OpenCV's INTER_AREA to
# shrink and Lanczos to enlarge, which is pixmill's --filter area (its own
# default, Lanczos3 both ways, is the lanczos3 variant).
#
# Rounds alternate the tools (order rotated each round). Each run is timed
# and its whole process tree's peak memory sampled (dataset_measure.py: PSS
# and RSS summed over every process, as img2dataset forks workers), then its
# output is read back with tarfile, webdataset and pyarrow (dataset_check.py).
# Prints medians and the ratios pixmill / img2dataset, and the CPU time the
# loopback server spent serving each run (it shares the machine).
#
# Environment: PIXMILL (binary; default target/release/pixmill), PEERS
# (default "img2dataset img2dataset-p$(nproc)": the second runs img2dataset
# with --processes_count $(nproc), as its README advises for a machine's
# cores), SIDE (256), PER_SHARD (250), PHOTOS (folder of source photos;
# default /work/corpus, /tmp/corpus, else made with corpus.sh), CACHE
# (~/.cache/pixmill-bench: the Python venv and the generated corpus), PORT
# (8731), OUT (Markdown file; default bench/results-dataset-DATE.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${1:-1000}
ROUNDS=${2:-3}
LATENCY=${3:-50}
SIDE=${SIDE:-256}
PER_SHARD=${PER_SHARD:-250}
PORT=${PORT:-8731}
CACHE=${CACHE:-$HOME/.cache/pixmill-bench}
PEERS=${PEERS:-"img2dataset img2dataset-p$(nproc)"}
HOSTS=${HOSTS:-1}
CORPUS_MAX=${CORPUS_MAX:-1000}
VARIANTS=${VARIANTS:-}
PIXMILL_ARGS=${PIXMILL_ARGS:-}   # more options for the main pixmill run
MD=${OUT:-$BENCH_DIR/results-dataset-$(date -u +%Y%m%d-%H%M).md}
export NO_ALBUMENTATIONS_UPDATE=1

need python3 curl
find_pixmill
make_scratch dataset

# ---- Python venv with img2dataset and the readers (cached) --------------
VENV=$CACHE/venv
PY=$VENV/bin/python
if ! "$PY" -c 'import img2dataset, webdataset, pyarrow, psutil, PIL' 2>/dev/null; then
  note "creating $VENV (img2dataset webdataset pyarrow psutil pillow from PyPI)"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install -q img2dataset webdataset pyarrow psutil pillow \
    || die "pip install into $VENV failed"
fi
I2D_VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("img2dataset"))')

# ---- corpus: web-sized images and a CSV (cached per N) -------------------
CORPUS_N=$N; [ "$N" -le "$CORPUS_MAX" ] || CORPUS_N=$CORPUS_MAX
CORPUS=$CACHE/corpus-$CORPUS_N
if [ ! -s "$CORPUS/list.csv" ]; then
  PHOTOS=${PHOTOS:-}
  for d in /work/corpus /tmp/corpus; do
    [ -n "$PHOTOS" ] || { [ -d "$d" ] && PHOTOS=$d; } || true
  done
  if [ -z "$PHOTOS" ]; then
    PHOTOS=$CACHE/photos
    note "fetching source photos into $PHOTOS (corpus.sh)"
    bash "$BENCH_DIR/corpus.sh" "$PHOTOS" >&2
  fi
  note "making $N web-sized image URLs from $PHOTOS into $CORPUS"
  rm -rf "$CORPUS.tmp"
  "$PY" "$BENCH_DIR/dataset_corpus.py" "$PHOTOS" "$CORPUS.tmp" "$CORPUS_N" "$PORT" >&2
  mv "$CORPUS.tmp" "$CORPUS"
fi
LIST=$SCRATCH/list.csv
# Row j of N: the corpus's row j mod C, on host 127.0.h/250.(h mod 250 + 1)
# with h = j mod HOSTS, and ?r=j/C when the corpus repeats.
awk -F, -v OFS=, -v n="$N" -v hosts="$HOSTS" -v port="$PORT" '
  NR == 1 { print; next }
  { row[c++] = $0 }
  END {
    for (j = 0; j < n && c > 0; j++) {
      line = row[j % c]; h = j % hosts
      host = "127.0." int(h / 250) "." (h % 250 + 1)
      sub(/http:\/\/127\.0\.0\.1:[0-9]*\//, "http://" host ":" port "/", line)
      if (j >= c) sub(/,/, "?r=" int(j / c) ",", line)
      print line
    }
  }' "$CORPUS/list.csv" >"$LIST"
ROWS=$(($(wc -l <"$LIST") - 1))
cat "$CORPUS"/files/* >/dev/null   # warm the page cache

# ---- server --------------------------------------------------------------
# dataset_server.py by default (asyncio, files in memory); SERVER_IMPL=http.server
# uses slow_server.py / multihost_server.py, as runs before 2026-12-04 did.
if [ "${SERVER_IMPL:-}" = http.server ]; then
  SERVER_PY=$BENCH_DIR/slow_server.py
  [ "$HOSTS" -le 1 ] || SERVER_PY=$BENCH_DIR/multihost_server.py
else
  SERVER_PY=$BENCH_DIR/dataset_server.py
fi
python3 "$SERVER_PY" "$CORPUS/files" "$PORT" --latency "$LATENCY" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$SCRATCH"' EXIT
first=$(sed -n 2p "$LIST" | cut -d, -f1)
for _ in $(seq 100); do curl -fsS -o /dev/null "$first" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$first" || die "$(basename "$SERVER_PY") did not come up on port $PORT"

# The loopback server's CPU ticks so far: it shares the machine with the
# tool it serves, so a CPU-bound tool's wall time pays for it too (a real
# site's CPU is not on the client's machine).
server_cpu() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }

# ---- the tools -----------------------------------------------------------
run_tool() {   # LABEL OUTDIR LOG: prints "WALL PSS_MB RSS_MB EXIT CPU_S"
  local label=$1 out=$2 log=$3 procs=()
  case $label in
    pixmill)
      "$PY" "$BENCH_DIR/dataset_measure.py" "$log" -- "$PIXMILL" convert -m "$LIST" -o "$out" \
        --output-format webdataset --samples-per-file "$PER_SHARD" -r "${SIDE}x$SIDE" \
        --fit outside --enlarge --filter area -f jpeg --quality 95 --subsampling 420 \
        --hash sha256 -q $PIXMILL_ARGS ;;
    pixmill-lanczos3)
      "$PY" "$BENCH_DIR/dataset_measure.py" "$log" -- "$PIXMILL" convert -m "$LIST" -o "$out" \
        --output-format webdataset --samples-per-file "$PER_SHARD" -r "${SIDE}x$SIDE" \
        --fit outside --enlarge -f jpeg --quality 95 --subsampling 420 --hash sha256 -q ;;
    pixmill-if-needed)
      "$PY" "$BENCH_DIR/dataset_measure.py" "$log" -- "$PIXMILL" convert -m "$LIST" -o "$out" \
        --output-format webdataset --samples-per-file "$PER_SHARD" -r "${SIDE}x$SIDE" \
        --fit outside --enlarge --filter area --quality 95 --subsampling 420 --hash sha256 -q \
        --reencode if-needed ;;
    pixmill-never)
      "$PY" "$BENCH_DIR/dataset_measure.py" "$log" -- "$PIXMILL" convert -m "$LIST" -o "$out" \
        --output-format webdataset --samples-per-file "$PER_SHARD" --hash sha256 -q \
        --reencode never ;;
    img2dataset*)
      [ "$label" = img2dataset ] || procs=(--processes_count "${label#img2dataset-p}")
      "$PY" "$BENCH_DIR/dataset_measure.py" "$log" -- "$VENV/bin/img2dataset" \
        --url_list "$LIST" --input_format csv --url_col url --caption_col caption \
        --save_additional_columns '["source_id"]' --output_format webdataset \
        --output_folder "$out" --image_size "$SIDE" --resize_mode keep_ratio \
        --encode_quality 95 --number_sample_per_shard "$PER_SHARD" "${procs[@]}" ;;
    *) die "unknown tool $label" ;;
  esac
}

LABELS=(pixmill)
for v in $VARIANTS; do LABELS+=("pixmill-$v"); done
LABELS+=($PEERS)
mkdir -p "$SCRATCH/res" "$SCRATCH/logs"
echo "uptime before: $(uptime)"
UPTIME_BEFORE=$(uptime)
note "$ROWS URLs, $LATENCY ms latency, $ROUNDS rounds: ${LABELS[*]}"
for ((r = 0; r < ROUNDS; r++)); do
  for ((i = 0; i < ${#LABELS[@]}; i++)); do
    label=${LABELS[$(((i + r) % ${#LABELS[@]}))]}
    out=$SCRATCH/out; rm -rf "$out"
    log=$SCRATCH/logs/$label.$r
    srv0=$(server_cpu)
    read -r wall pss rss rc cpu < <(run_tool "$label" "$out" "$log")
    srv=$(awk -v a="$srv0" -v b="$(server_cpu)" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
    problem=""
    # pixmill exits 1 when some items failed (the 404 rows), the rest done;
    # the sample and metadata counts below check that nothing else failed.
    if [ "$rc" != 0 ] && ! { [[ $label == pixmill* ]] && [ "$rc" = 1 ]; }; then
      problem="exit $rc: $(grep -v '\.tar:' "$log" | tail -n 2 | tr '\n' ' ' | cut -c1-160)"
    fi
    side=$SIDE; [ "$label" != pixmill-never ] || side=0   # sizes as downloaded
    if ok=$("$PY" "$BENCH_DIR/dataset_check.py" "$out" "$ROWS" "$side" 2>"$SCRATCH/check.err"); then :; else
      ok=0; problem="$problem $(head -c 200 "$SCRATCH/check.err")"
    fi
    echo "$wall $pss $rss $ok $cpu $srv" >>"$SCRATCH/res/$label"
    [ -z "$problem" ] || echo "round $((r + 1)): $problem" >>"$SCRATCH/res/$label.bad"
    printf '  round %d/%d  %-16s %7ss  CPU %7ss  peak PSS %7s MB  RSS %7s MB  %s samples  server CPU %ss%s\n' \
      $((r + 1)) "$ROUNDS" "$label" "$wall" "$cpu" "$pss" "$rss" "$ok" "$srv" "${problem:+  FLAGGED: $problem}" >&2
  done
done
rm -rf "$SCRATCH/out"
echo "uptime after:  $(uptime)"

# ---- summary -------------------------------------------------------------
col() { awk -v c="$2" '{ print $c }' "$SCRATCH/res/$1" >"$SCRATCH/col"; stats "$SCRATCH/col"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.2f" : "nan"), (b > 0 ? a / b : 0) }'; }
samples_of() { sort -u <(awk '{ print $4 }' "$SCRATCH/res/$1") | tr '\n' ' ' | sed 's/ $//'; }

read -r pw _ < <(col pixmill 1); read -r pp _ < <(col pixmill 2); read -r pc _ < <(col pixmill 5)
{
  echo "# pixmill vs img2dataset: WebDataset from a CSV of URLs"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/^Mem:/ { print $2 " GB RAM" }')"
  echo "- pixmill: $("$PIXMILL" --version | head -n 1) (git $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); img2dataset $I2D_VERSION"
  echo "- workload: $ROWS URLs over $HOSTS loopback host address(es) ($(basename "$SERVER_PY"), $LATENCY ms latency), one in 50 a 404; web-sized JPEG/PNG (longest side 300-1600 px); shorter side to $SIDE px (area down, Lanczos up), JPEG q95 4:2:0, $PER_SHARD samples per tar, $ROUNDS alternating rounds"
  echo "- uptime before: \`$UPTIME_BEFORE\`"
  echo "- uptime after: \`$(uptime)\`"
  echo
  echo "| tool | median wall s | min wall s | median CPU s | median peak PSS MB | median peak RSS MB | samples | pixmill ÷ tool (wall) | pixmill ÷ tool (CPU) | pixmill ÷ tool (PSS) | server CPU s | checks |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} >"$MD"
printf '\n%-16s %9s %9s %9s %9s %9s %8s %8s %8s %8s %8s  %s\n' tool "wall s" "min s" "CPU s" "PSS MB" "RSS MB" samples "÷ wall" "÷ CPU" "÷ mem" "srv CPU" checks
for label in "${LABELS[@]}"; do
  read -r w wmin < <(col "$label" 1); read -r p _ < <(col "$label" 2); read -r s _ < <(col "$label" 3)
  read -r c _ < <(col "$label" 5); read -r sc _ < <(col "$label" 6)
  checks=ok; [ ! -s "$SCRATCH/res/$label.bad" ] || checks="FLAGGED: $(head -n 1 "$SCRATCH/res/$label.bad") ($(wc -l <"$SCRATCH/res/$label.bad") bad runs)"
  rw=$(ratio "$pw" "$w"); rcpu=$(ratio "$pc" "$c"); rp=$(ratio "$pp" "$p")
  printf '%-16s %9s %9s %9s %9s %9s %8s %8s %8s %8s %8s  %s\n' "$label" "$w" "$wmin" "$c" "$p" "$s" "$(samples_of "$label")" "$rw" "$rcpu" "$rp" "$sc" "$checks"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$w" "$wmin" "$c" "$p" "$s" "$(samples_of "$label")" "$rw" "$rcpu" "$rp" "$sc" "${checks//|/\\|}" >>"$MD"
done
counts=$(cat "$SCRATCH"/res/* 2>/dev/null | awk '$4 > 0 { print $4 }' | sort -u | wc -l)
if [ "$counts" -gt 1 ]; then
  echo "FLAGGED: the tools kept different numbers of samples (see the samples column)"
  printf '\n**FLAGGED: the tools kept different numbers of samples.**\n' >>"$MD"
fi
if [ ! -s "$SCRATCH/res/img2dataset" ]; then
  rows_s=$(awk -v r="$ROWS" -v w="$pw" 'BEGIN { printf "%.0f", r / w }')
  cpu_rows=$(awk -v r="$ROWS" -v c="$pc" 'BEGIN { printf "%.0f", r / c }')
  summary="pixmill alone: $ROWS rows in ${pw} s ($rows_s rows/s, $cpu_rows rows per CPU-second), peak memory (PSS) ${pp} MB"
  echo "$summary"; printf '\n**%s**\n' "$summary" >>"$MD"; echo "results written to $MD"; exit 0
fi
read -r iw _ < <(col img2dataset 1); read -r ip _ < <(col img2dataset 2); read -r ic _ < <(col img2dataset 5)
summary="pixmill / img2dataset (defaults): wall $(ratio "$pw" "$iw") (${pw} s vs ${iw} s), CPU $(ratio "$pc" "$ic") (${pc} s vs ${ic} s), peak memory (PSS) $(ratio "$pp" "$ip") (${pp} MB vs ${ip} MB)"
echo "$summary"
printf '\n**%s**\n' "$summary" >>"$MD"
echo "results written to $MD"
