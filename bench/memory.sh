#!/usr/bin/env bash
# Peak memory (Max RSS from GNU `/usr/bin/time -v`) of pixmill:
#
# 1. `pixmill convert -m manifest.csv` with a MANIFEST_N-entry manifest
#    (300,000 by default) must stay <= RSS_LIMIT_MB (64): entries are streamed
#    and report records written as items finish. Three runs:
#      work     every entry real work: a few small real photos, cycled, each
#               entry to its own output o/000123.jpg, --resize 64x64
#      rerun    the same manifest again with the default rule, after 'work':
#               every output is up to date (its stamp matches), all skipped
#      skip     the same manifest again: every output exists (--on-exists skip)
#      missing  every entry names a file that does not exist (quick failures)
# 2. folder conversion of the corpus linked in 1x and 4x (hard links in
#    subdirectories): peak RSS should be bounded by jobs x largest decoded
#    image, and not grow with the number of images.
#
# usage: memory.sh [CORPUS_DIR]     (default $CORPUS, else /work/corpus)
# env:   MANIFEST_N (300000), RSS_LIMIT_MB (64), RSS_BASE_MB (32), JOBS, PIXMILL,
#        RUNS ("work rerun skip missing folder1 folder4"; drop "work" and
#        "rerun" if 300k real conversions take too long on your machine),
#        ON_EXISTS (skip: the --on-exists value for the second run),
#        OUT (Markdown; default bench/results-memory-DATE.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

corpus=${1:-${CORPUS:-/work/corpus}}
manifest_n=${MANIFEST_N:-300000}
limit_mb=${RSS_LIMIT_MB:-64}
runs=${RUNS:-work rerun skip missing folder1 folder4}
on_exists=${ON_EXISTS:-skip}
[ -d "$corpus" ] || die "corpus directory '$corpus' not found (make one with: bash $BENCH_DIR/corpus.sh DIR)"
case $(/usr/bin/time -v true 2>&1 || true) in
  *"Maximum resident"*) ;;
  *) die "GNU time (/usr/bin/time -v) is needed: apt-get install time" ;;
esac
need vipsthumbnail vipsheader python3
find_pixmill
make_scratch memory
MD=${OUT:-$BENCH_DIR/results-memory-$(date +%Y%m%d-%H%M%S).md}

mapfile -d '' images < <(image_list "$corpus")
[ ${#images[@]} -gt 0 ] || die "no images under $corpus"

# A few small real photos (longest side 320) for the manifest to cycle over.
# The -o path must be absolute: vipsthumbnail resolves a relative one against
# the input's own directory, i.e. it would write into the corpus.
mkdir -p "$SCRATCH/small"
k=0
for f in "${images[@]}"; do
  case ${f,,} in *.jpg|*.jpeg) ;; *) continue ;; esac
  vipsthumbnail "$f" -s 320 -o "$SCRATCH/small/s$k.jpg[Q=90]"
  k=$((k + 1)); [ $k -lt 4 ] || break
done
[ $k -gt 0 ] || die "no JPEGs under $corpus for the manifest runs"

# Manifests: CSV with a header, columns path,output.
python3 - "$SCRATCH" "$manifest_n" "$k" <<'EOF'
import sys
d, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(d + "/work.csv", "w") as f:
    f.write("path,output\n")
    for i in range(n):
        f.write("%s/small/s%d.jpg,o/%06d.jpg\n" % (d, i % k, i))
with open(d + "/missing.csv", "w") as f:
    f.write("path,output\n")
    for i in range(n):
        f.write("%s/nonexistent/%06d.jpg,m/%06d.jpg\n" % (d, i, i))
EOF

# The corpus linked in 1x and 4x, in subdirectories so names never collide.
for copies in 1 4; do
  for ((c = 1; c <= copies; c++)); do
    for f in "${images[@]}"; do
      mkdir -p "$SCRATCH/folder$copies/c$c"
      ln "$f" "$SCRATCH/folder$copies/c$c/" 2>/dev/null || cp "$f" "$SCRATCH/folder$copies/c$c/"
    done
  done
done

# Folder bound: a fixed base (binary, allocator, threads; RSS_BASE_MB, 32)
# plus JOBS decoded copies of the largest image at 4 B per pixel. A rough
# yardstick; the 4x / 1x ratio is the sharper test.
largest_px=0
for f in "${images[@]}"; do
  px=$(( $(vipsheader -f width "$f") * $(vipsheader -f height "$f") ))
  [ "$px" -le "$largest_px" ] || largest_px=$px
done
base_mb=${RSS_BASE_MB:-32}
bound_mb=$(awk -v b="$base_mb" -v j="$JOBS" -v p="$largest_px" 'BEGIN { printf "%.0f", b + j * p * 4 / 1048576 }')

# measure NAME EXPECT_OUTPUTS CMD... : runs CMD under /usr/bin/time -v and
# appends "NAME rss_mb seconds exit outputs/expected report_lines" to rows.
measure() {
  local name=$1 expect=$2; shift 2
  local tv="$SCRATCH/$name.time" rc=0 rss secs got lines=-
  note "$name: $*"
  /usr/bin/time -v -o "$tv" "$@" >"$SCRATCH/$name.log" 2>&1 || rc=$?
  rss=$(awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$tv")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
           for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.1f", s }' "$tv")
  got=$(count_outputs "$SCRATCH/out")
  [ ! -f "$SCRATCH/$name.jsonl" ] || lines=$(wc -l <"$SCRATCH/$name.jsonl")
  echo "$name $rss $secs $rc $got/$expect $lines" >>"$SCRATCH/rows"
  [ "$rc" -eq 0 ] || note "$name exited $rc: $(tail -n 2 "$SCRATCH/$name.log" | tr '\n' ' ' | cut -c1-160)"
}

# manifest_cmd NAME MANIFEST [extra args] : sets CMD (time -v needs a program,
# not a shell function).
manifest_cmd() {
  local name=$1 m=$2; shift 2
  CMD=("$PIXMILL" convert -m "$m" -o "$SCRATCH/out" --resize 64x64 --format jpeg --quality 85 -q
       -j "$JOBS" --report "$SCRATCH/$name.jsonl" "$@")
}

rm -rf "$SCRATCH/out"; mkdir -p "$SCRATCH/out"
: >"$SCRATCH/rows"
for run in $runs; do
  case $run in
    work)    rm -rf "$SCRATCH/out"; mkdir -p "$SCRATCH/out"
             manifest_cmd work "$SCRATCH/work.csv"
             measure work "$manifest_n" "${CMD[@]}" ;;
    rerun)   [ -d "$SCRATCH/out/o" ] || die "the rerun run needs the work run before it"
             manifest_cmd rerun "$SCRATCH/work.csv"
             measure rerun "$manifest_n" "${CMD[@]}" ;;
    skip)    # Outputs from 'work' if it ran; else hard links of one small photo.
             if [ ! -d "$SCRATCH/out/o" ]; then
               python3 -c 'import os, sys
d, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(d + "/o", exist_ok=True)
for i in range(n): os.link(src, "%s/o/%06d.jpg" % (d, i))' "$SCRATCH/out" "$SCRATCH/small/s0.jpg" "$manifest_n"
             fi
             manifest_cmd skip "$SCRATCH/work.csv" --on-exists "$on_exists"
             measure skip "$manifest_n" "${CMD[@]}" ;;
    missing) rm -rf "$SCRATCH/out"; mkdir -p "$SCRATCH/out"
             manifest_cmd missing "$SCRATCH/missing.csv"
             measure missing 0 "${CMD[@]}" ;;
    folder1|folder4)
             rm -rf "$SCRATCH/out"; mkdir -p "$SCRATCH/out"
             n=$(find "$SCRATCH/$run" -type f | wc -l)
             measure "$run" "$n" "$PIXMILL" convert "$SCRATCH/$run" -o "$SCRATCH/out" \
               --resize 256x256 --format jpeg --quality 85 -q -j "$JOBS" ;;
    *) die "unknown run '$run'" ;;
  esac
done

md_header "pixmill peak memory (memory.sh)"
{
  echo "- manifest: $manifest_n entries (CSV path,output) over $k small photos; resize 64x64 JPEG"
  echo "- folder: \`$corpus\` (${#images[@]} images) linked 1x and 4x; resize 256 JPEG; JOBS=$JOBS"
  echo "- largest image $(awk -v p="$largest_px" 'BEGIN { printf "%.1f", p / 1e6 }') MP; folder bound = $base_mb MB + JOBS x largest x 4 B = $bound_mb MB"
  echo
  echo "| run | max RSS MB | limit MB | verdict | wall s | exit | outputs | report lines |"
  echo "|---|---:|---:|---|---:|---:|---:|---:|"
} >>"$MD"
printf '\n%-9s %11s %9s %-8s %8s %5s %15s %13s\n' run "max RSS MB" "limit MB" verdict "wall s" exit outputs "report lines"
while read -r name rss secs rc outs lines; do
  case $name in folder*) lim=$bound_mb ;; *) lim=$limit_mb ;; esac
  verdict=$(awk -v r="$rss" -v l="$lim" 'BEGIN { print (r <= l ? "ok" : "OVER") }')
  # every manifest entry should have a streamed report record
  case $name in work|rerun|skip|missing) [ "$lines" = "$manifest_n" ] || verdict="$verdict, report?" ;; esac
  case $name in work|folder*) [ "${outs%/*}" = "${outs#*/}" ] || verdict="$verdict, outputs?" ;; esac
  printf '%-9s %11s %9s %-8s %8s %5s %15s %13s\n' "$name" "$rss" "$lim" "$verdict" "$secs" "$rc" "$outs" "$lines"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$rss" "$lim" "$verdict" "$secs" "$rc" "$outs" "$lines" >>"$MD"
done <"$SCRATCH/rows"

r1=$(awk '$1 == "folder1" { print $2 }' "$SCRATCH/rows")
r4=$(awk '$1 == "folder4" { print $2 }' "$SCRATCH/rows")
if [ -n "$r1" ] && [ -n "$r4" ]; then
  g=$(awk -v a="$r1" -v b="$r4" 'BEGIN { printf "%.2f", b / a }')
  v=$(awk -v g="$g" 'BEGIN { print (g <= 1.25 ? "flat" : "GROWS with the number of images") }')
  echo "folder 4x / 1x peak RSS = $g: $v  (about 1.00 = does not grow with the number of images)"
  printf '\n- folder 4x / 1x peak RSS = **%s**: %s (about 1.00 = does not grow with the number of images)\n' "$g" "$v" >>"$MD"
fi
echo "limits: manifest runs <= $limit_mb MB; folder runs <= $bound_mb MB ($base_mb MB + JOBS x largest image x 4 B)"
echo "the 'missing' run is expected to exit non-zero (every item fails)"
echo
echo "Markdown written to $MD"
