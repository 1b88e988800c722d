#!/usr/bin/env bash
# Peak memory and wall time of one huge PNG made into a thumbnail: an
# 81-megapixel (9000x9000 RGB) PNG, made with vips from the corpus's
# 4096x4096 photo, resized to 256 px JPEG by pixmill and by vipsthumbnail,
# alternating over ROUNDS; max RSS from /usr/bin/time. With BASE=BINARY, an
# older pixmill runs in the same rounds (before/after).
# usage: huge_png.sh [CORPUS=/work/corpus]
# env:   ROUNDS (3), PIXMILL, BASE, OUT (Markdown results)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
corpus=${1:-${CORPUS:-/work/corpus}}
rounds=${ROUNDS:-3}
need vips vipsthumbnail
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
find_pixmill
make_scratch huge
src=$(find "$corpus" -maxdepth 1 -name 'Infinite-Sea*.jpg' | head -n 1)
[ -n "$src" ] || die "no Infinite-Sea*.jpg (4096x4096) in $corpus; make one with corpus.sh"
huge="$SCRATCH/huge.png"
vips resize "$src" "$huge" 2.197265625
note "$(vipsheader "$huge"), $(du -m "$huge" | cut -f1) MB file"

tools=(pixmill vipsthumbnail)
[ -z "${BASE:-}" ] || tools=(pixmill-base "${tools[@]}")
# cmd TOOL : sets CMD to TOOL's command line.
cmd() {
  local out="$SCRATCH/out-$1"
  case $1 in
    pixmill) CMD=("$PIXMILL" convert "$huge" -o "$out" --resize 256x256 --format jpeg -q) ;;
    pixmill-base) CMD=("$BASE" convert "$huge" -o "$out" --resize 256x256 --format jpeg -q) ;;
    vipsthumbnail) mkdir -p "$out"; CMD=(vipsthumbnail "$huge" -s 256x256 -o "$out/%s.jpg") ;;
  esac
}
mkdir -p "$SCRATCH/m"
echo "uptime before: $(uptime)"
for r in $(seq "$rounds"); do
  for t in "${tools[@]}"; do
    rm -rf "$SCRATCH/out-$t"
    cmd "$t"
    /usr/bin/time -f "%e %M" -o "$SCRATCH/m/$t.$r" "${CMD[@]}"
    [ "$(count_outputs "$SCRATCH/out-$t")" -eq 1 ] || die "$t wrote no output"
  done
done
echo "uptime after: $(uptime)"
MD=${OUT:-$BENCH_DIR/results-huge-png.md}
md_header "one 81-megapixel PNG to a 256 px JPEG (huge_png.sh)"
printf '\n| tool | median s | median peak RSS MB |\n|---|---:|---:|\n' >>"$MD"
for t in "${tools[@]}"; do
  s=$(cat "$SCRATCH"/m/"$t".* | awk '{print $1}' >"$SCRATCH/s"; stats "$SCRATCH/s" | cut -d' ' -f1)
  m=$(cat "$SCRATCH"/m/"$t".* | awk '{print $2 / 1024}' >"$SCRATCH/k"; stats "$SCRATCH/k" | cut -d' ' -f1)
  printf '%-16s %8s s %8s MB\n' "$t" "$s" "$m"
  printf '| %s | %s | %s |\n' "$t" "$s" "$m" >>"$MD"
done
echo "Markdown written to $MD"
