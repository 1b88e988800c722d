#!/usr/bin/env bash
# Output sizes of pixmill's default PNG and TIFF encoders against libvips's
# default saves of the same pixels, and the time each took (one call for
# the whole set, so the speed class is visible beside the size).
# Inputs: the corpus's PNGs, plus an RGBA copy of each (constant alpha added
# with `vips bandjoin_const`), since alpha is where encoders differ most.
#
# usage: sizes.sh CORPUS_DIR
# env:   PIXMILL, OUT (Markdown results; default bench/results-sizes-DATE.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
corpus=${1:?usage: sizes.sh CORPUS_DIR}
need vips parallel
find_pixmill
make_scratch sizes
MD=${OUT:-$BENCH_DIR/results-sizes-$(date +%Y%m%d-%H%M%S).md}

mapfile -d '' pngs < <(find "$corpus" -maxdepth 1 -type f -iname '*.png' -print0 | sort -z)
[ ${#pngs[@]} -gt 0 ] || die "no PNG in $corpus"
link_into "$SCRATCH/in" "${pngs[@]}"
for f in "${pngs[@]}"; do
  b=$(basename "$f"); vips bandjoin_const "$f" "$SCRATCH/in/${b%.*}-rgba.png" 255
done
cat "$SCRATCH"/in/* >/dev/null

# timed LABEL CMD... : runs CMD once, prints the wall seconds.
timed() { local t0; t0=$(now); "$@" >/dev/null; elapsed "$t0" "$(now)"; }

t_pm_png=$(timed "$PIXMILL" convert "$SCRATCH/in" -o "$SCRATCH/pm-png" -f png -q)
mkdir -p "$SCRATCH/vips-png" "$SCRATCH/vips-tif"
t_vips_png=$(timed parallel -j "$(nproc)" vips copy {} "$SCRATCH/vips-png/{/.}.png" ::: "$SCRATCH"/in/*)
t_pm_tif=$(timed "$PIXMILL" convert "$SCRATCH/in" -o "$SCRATCH/pm-tif" -f tiff -q)
t_vips_tif=$(timed parallel -j "$(nproc)" vips copy {} "$SCRATCH/vips-tif/{/.}.tif[compression=deflate]" ::: "$SCRATCH"/in/*)

md_header "pixmill's default PNG and TIFF sizes vs libvips (sizes.sh)"
printf '\n| image | pixmill PNG | vips PNG | ÷ | pixmill TIFF | vips TIFF deflate | ÷ |\n|---|---:|---:|---:|---:|---:|---:|\n' >>"$MD"
sum() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }'; }
for f in "$SCRATCH"/in/*; do
  s=$(basename "${f%.*}")
  a=$(stat -c %s "$SCRATCH/pm-png/$s.png"); b=$(stat -c %s "$SCRATCH/vips-png/$s.png")
  c=$(stat -c %s "$SCRATCH/pm-tif/$s.tif"); d=$(stat -c %s "$SCRATCH/vips-tif/$s.tif")
  printf '| %s | %s | %s | %.2f | %s | %s | %.2f |\n' "$s" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')" \
    "$c" "$d" "$(awk -v a="$c" -v b="$d" 'BEGIN{print a/b}')" >>"$MD"
done
a=$(sum "$SCRATCH/pm-png"); b=$(sum "$SCRATCH/vips-png"); c=$(sum "$SCRATCH/pm-tif"); d=$(sum "$SCRATCH/vips-tif")
{
  printf '| **all** | %s | %s | **%.2f** | %s | %s | **%.2f** |\n' "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')" \
    "$c" "$d" "$(awk -v a="$c" -v b="$d" 'BEGIN{print a/b}')"
  printf '| time (s, -j %s) | %s | %s | | %s | %s | |\n' "$(nproc)" "$t_pm_png" "$t_vips_png" "$t_pm_tif" "$t_vips_tif"
} >>"$MD"
cat "$MD"
echo "Markdown written to $MD"
