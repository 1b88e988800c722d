#!/usr/bin/env bash
# AVIF encoding speed: libaom speed settings through heif-enc (the same
# libheif + libaom pixmill links), then pixmill -f avif at its default, on
# the same photos scaled to SIDE px (default 1920) as PNG.
#   bash bench/avif.sh CORPUS [SIDE] [PHOTOS]
# Needs heif-enc (libheif-examples) and ImageMagick's convert.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
corpus=${1:?usage: avif.sh CORPUS [SIDE] [PHOTOS]}
side=${2:-1920}
photos=${3:-3}
need heif-enc identify
find_imagemagick
find_pixmill
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/in"
find "$corpus" -maxdepth 1 -name '*.jpg' | sort | head -n "$photos" | while read -r f; do
  $IM "$f" -resize "${side}x${side}>" "$work/in/$(basename "${f%.*}").png"
done
mp=$(identify -format '%w %h\n' "$work"/in/*.png | awk '{s+=$1*$2} END {printf "%.1f", s/1e6}')
note "$photos photos, $mp megapixels in all, quality 85"

printf '| encoder | speed | seconds | MP/s | bytes |\n|---|---:|---:|---:|---:|\n'
for speed in 4 5 6 7 8; do
  rm -f "$work"/*.avif
  s=$(now)
  for f in "$work"/in/*.png; do
    heif-enc -A -q 85 -p speed="$speed" "$f" -o "$work/$(basename "${f%.png}").avif" >/dev/null
  done
  t=$(elapsed "$s" "$(now)")
  bytes=$(cat "$work"/*.avif | wc -c)
  printf '| heif-enc | %s | %.2f | %.2f | %s |\n' "$speed" "$t" "$(awk -v m="$mp" -v t="$t" 'BEGIN { print m / t }')" "$bytes"
done

rm -rf "$work/out"
s=$(now)
"$PIXMILL" convert "$work/in" -o "$work/out" -f avif --quality 85 -j 1 -q
t=$(elapsed "$s" "$(now)")
bytes=$(cat "$work"/out/*.avif | wc -c)
printf '| pixmill -j 1 | default | %.2f | %.2f | %s |\n' "$t" "$(awk -v m="$mp" -v t="$t" 'BEGIN { print m / t }')" "$bytes"
