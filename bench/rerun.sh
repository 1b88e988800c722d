#!/usr/bin/env bash
# Rerun of an up-to-date folder: how long pixmill takes, and how much memory,
# to find that nothing needs doing, for N items (50,000 and 300,000 by
# default). Each N: a folder of N tiny distinct PNG files (1000 per
# subfolder) is converted once with PIXMILL (so every output carries its
# stamp), then the same command is rerun ROUNDS times, alternating with
# BASE (an older pixmill, e.g. main's build) when given; medians of wall
# time and peak RSS (GNU time -v). Every rerun must skip all N items.
#
# Labels: "update" is PIXMILL's default rule (each output's stamp checked);
# "skip" is PIXMILL with --on-exists skip, the old rule that only asks
# whether each output exists (the peer figure: the cheapest check there
# is); "base" is BASE's default rule (for a pixmill before stamps that is
# "skip what exists" too). BASE makes and reruns its own output folder, so
# a stamp format that differs between the two never makes either redo work.
#
# usage: rerun.sh [N...]          (default: 50000 300000)
# env:   PIXMILL, BASE (optional second binary), ROUNDS (3), JOBS,
#        OUT (Markdown; default bench/results-rerun-DATE.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(50000 300000)
rounds=${ROUNDS:-3}
case $(/usr/bin/time -v true 2>&1 || true) in
  *"Maximum resident"*) ;;
  *) die "GNU time (/usr/bin/time -v) is needed: apt-get install time" ;;
esac
need python3
find_pixmill
[ -z "${BASE:-}" ] || [ -x "$BASE" ] || die "BASE=$BASE is not an executable file"
make_scratch rerun
MD=${OUT:-$BENCH_DIR/results-rerun-$(date +%Y%m%d-%H%M%S).md}

# make_inputs N DIR : N distinct tiny PNG files (each its own inode; the
# pixels differ, so no two files are the same).
make_inputs() {
  python3 - "$1" "$2" <<'PY'
import os, struct, sys, zlib
n, root = int(sys.argv[1]), sys.argv[2]
def png(seed):
    w = h = 16
    rows = b"".join(b"\0" + bytes((x * 16 + seed + y) % 256 for x in range(w * 3)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
for i in range(n):
    d = "%s/d%04d" % (root, i // 1000)
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open("%s/f%07d.png" % (d, i), "wb") as f:
        f.write(png(i))
PY
}

# timed LABEL N OUT BIN [ARGS...] : one rerun into OUT; appends "secs rss_mb"
# to rows.N.LABEL.
timed() {
  local label=$1 n=$2 out=$3 bin=$4 tv="$SCRATCH/time.txt" rc=0 secs rss skipped
  shift 4
  /usr/bin/time -v -o "$tv" "$bin" convert "$SCRATCH/in" -o "$out" -f jpeg -q \
    -j "$JOBS" --report "$SCRATCH/r.jsonl" "$@" >/dev/null 2>"$SCRATCH/err.txt" || rc=$?
  [ "$rc" -eq 0 ] || die "$label exited $rc: $(tail -n 2 "$SCRATCH/err.txt")"
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
           for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s }' "$tv")
  rss=$(awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$tv")
  skipped=$(grep -c '"status":"skipped"' "$SCRATCH/r.jsonl" || true)
  [ "$skipped" -eq "$n" ] || die "$label skipped $skipped of $n items"
  echo "$secs $rss" >>"$SCRATCH/rows.$n.$label"
  printf '  N=%-7s %-8s %6ss %7s MB  (%s skipped)\n' "$n" "$label" "$secs" "$rss" "$skipped" >&2
}

md_header "pixmill up-to-date rerun (rerun.sh)"
{
  echo "- load before: $(uptime | sed 's/.*load average/load average/')"
  echo "- inputs: N tiny distinct PNG files (16x16), 1000 per folder; \`convert in -o out -f jpeg -j $JOBS\`"
  echo "- update, skip: \`$PIXMILL\` (default rule; \`--on-exists skip\`); base: \`${BASE:-none}\`; $rounds alternating rounds, medians"
  echo
  echo "| N | binary | median wall s | median peak RSS MB |"
  echo "|---:|---|---:|---:|"
} >>"$MD"
labels=(update skip); [ -z "${BASE:-}" ] || labels+=(base)
for n in "${sizes[@]}"; do
  rm -rf "$SCRATCH/in" "$SCRATCH/out" "$SCRATCH/out-base"
  note "N=$n: making inputs"
  make_inputs "$n" "$SCRATCH/in"
  note "N=$n: first run (every output made and stamped)"
  "$PIXMILL" convert "$SCRATCH/in" -o "$SCRATCH/out" -f jpeg -q -j "$JOBS" >/dev/null
  [ -z "${BASE:-}" ] || "$BASE" convert "$SCRATCH/in" -o "$SCRATCH/out-base" -f jpeg -q -j "$JOBS" >/dev/null
  for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < ${#labels[@]}; i++)); do
      label=${labels[$(((i + r) % ${#labels[@]}))]}
      case $label in
        update) timed update "$n" "$SCRATCH/out" "$PIXMILL" ;;
        skip) timed skip "$n" "$SCRATCH/out" "$PIXMILL" --on-exists skip ;;
        base) timed base "$n" "$SCRATCH/out-base" "$BASE" ;;
      esac
    done
  done
  for label in "${labels[@]}"; do
    read -r secs _ < <(stats <(awk '{ print $1 }' "$SCRATCH/rows.$n.$label"))
    read -r rss _ < <(stats <(awk '{ print $2 }' "$SCRATCH/rows.$n.$label"))
    printf 'N=%-7s %-8s median %6ss  peak RSS %7s MB\n' "$n" "$label" "$secs" "$rss"
    printf '| %s | %s | %s | %s |\n' "$n" "$label" "$secs" "$rss" >>"$MD"
  done
done
echo "- load after: $(uptime | sed 's/.*load average/load average/')" >>"$MD"
echo
echo "Markdown written to $MD"
