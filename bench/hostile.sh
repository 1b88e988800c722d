#!/usr/bin/env bash
# Peak memory (Max RSS, GNU `/usr/bin/time -v`), time and bytes taken in of
# pixmill on the hostile inputs of issue 23, for the binary under test and,
# optionally, one built before the fix (to show what changed):
#
#   endless-convert   convert URL --max-input-size 10M; the server's body never ends
#   endless-default   convert URL with no option (the default 1G cap); endless body
#   endless-fetch     fetch URL --max-size 10M; endless body
#   long-line         convert -m long.txt: a plain list with one 100 MiB line
#   long-csv-gz       convert -m long.csv.gz: 1 MB gzipped CSV holding a 1 GiB field
#   icc-bomb          convert bomb.png: a 1x1 PNG whose iCCP inflates to 1 GiB
#
# The inputs come from hostile_inputs.py, the endless body from
# endless_server.py (both beside this script). A run still going after
# LIMIT_S seconds is killed (an endless download before the fix never ends);
# the table then says so and how much the server had sent.
#
# usage: hostile.sh [BEFORE_BINARY]
# env:   PIXMILL (the binary under test; default target/release/pixmill),
#        LIMIT_S (20), PORT (18923), LINE_MB (100), GZ_GB (1), ICC_MB (1024),
#        OUT (Markdown; default bench/results-hostile-DATE.md; bench/results-hostile.md
#        is the one kept, with notes)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

before=${1:-}
limit_s=${LIMIT_S:-20}
port=${PORT:-18923}
case $(/usr/bin/time -v true 2>&1 || true) in
  *"Maximum resident"*) ;;
  *) die "GNU time (/usr/bin/time -v) is needed: apt-get install time" ;;
esac
need python3 curl jq pgrep
find_pixmill
make_scratch hostile
MD=${OUT:-$BENCH_DIR/results-hostile-$(date +%Y%m%d-%H%M%S).md}

note "writing the hostile inputs into $SCRATCH/in"
python3 "$BENCH_DIR/hostile_inputs.py" "$SCRATCH/in" "${LINE_MB:-100}" "${GZ_GB:-1}" "${ICC_MB:-1024}" >&2
python3 "$BENCH_DIR/endless_server.py" "$port" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/stats" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/endless.png"

sent() { curl -s "http://127.0.0.1:$port/stats"; }

# run_case LABEL BINARY WHICH ARGS... : one run in a fresh output folder;
# prints a table row. The run is killed (by its own process id) after
# LIMIT_S seconds; GNU time still reports the peak of a killed run.
run_case() {
  local label=$1 bin=$2 which=$3; shift 3
  local work="$SCRATCH/run" code=0 start end rss s0 s1 said tpid child waited=0
  rm -rf "$work"; mkdir -p "$work"
  s0=$(sent)
  start=$(now)
  (cd "$SCRATCH/in" && exec /usr/bin/time -v -o "$work/time" \
     "$bin" "$@" -o "$work/out" --report "$work/r.jsonl" >/dev/null 2>"$work/err") &
  tpid=$!
  while kill -0 "$tpid" 2>/dev/null; do
    if [ "$waited" -ge $((limit_s * 10)) ]; then
      child=$(pgrep -P "$tpid" || true)
      [ -n "$child" ] && kill -KILL "$child"
      break
    fi
    sleep 0.1; waited=$((waited + 1))
  done
  wait "$tpid" || code=$?
  end=$(now)
  s1=$(sent)
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time")
  if grep -q "terminated by signal 9" "$work/time"; then
    code=137
    said="killed after ${limit_s} s, still running"
  else
    said=$(jq -r 'select(.status != "ok" or (.warnings // []) != [])
                  | [(.input | if length > 40 then .[:40] + "…" else . end), .status,
                     (.error // empty), ((.warnings // []) | join("; "))]
                  | map(select(. != "")) | join(" — ")' "$work/r.jsonl" 2>/dev/null \
           | head -2 | tr '\n' ' ' | cut -c1-200 || true)
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$which" "$code" "$rss" \
    "$(elapsed "$start" "$end")" "$(( (s1 - s0) / 1048576 ))" "$said" | tee -a "$MD"
}

cases() {
  local bin=$1 which=$2
  run_case endless-convert "$bin" "$which" convert "$url" --max-input-size 10M
  run_case endless-default "$bin" "$which" convert "$url"
  run_case endless-fetch "$bin" "$which" fetch "$url" --max-size 10M
  run_case long-line "$bin" "$which" convert -m long.txt
  run_case long-csv-gz "$bin" "$which" convert -m long.csv.gz
  run_case icc-bomb "$bin" "$which" convert bomb.png
}

{
  echo "# Hostile inputs: peak memory, $(date -u +%Y-%m-%d)"
  echo
  echo "\`bench/hostile.sh\` on $(nproc) cores; runs killed after ${limit_s} s."
  echo "Inputs (bench/hostile_inputs.py):"
  echo
  echo '```'
  (cd "$SCRATCH/in" && ls -l | tail -n +2 | awk '{print $5, $9}')
  echo '```'
  echo
  echo "| case | binary | exit | max RSS MB | wall s | MiB the server sent | what the record says (failures and warnings) |"
  echo "|---|---|---|---|---|---|---|"
} | tee "$MD"
[ -n "$before" ] && cases "$before" before
cases "$PIXMILL" after
note "wrote $MD"
