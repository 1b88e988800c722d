#!/usr/bin/env bash
# Colour management, two questions:
#  1. Accuracy: wide-gamut copies of an sRGB photo (Display P3, Adobe RGB,
#     ProPhoto; JPEG q100 and 16-bit PNG, profile embedded, made by the
#     ignored test `write_bench_samples`) converted back to sRGB PNG by
#     pixmill and by libvips (`vips icc_transform ... srgb --embedded`,
#     relative intent); mean absolute difference from the original, in
#     levels (0-255), per channel.
#  2. Cost on inputs that need no transform: pixmill against a build
#     without colour management ($BASE_PIXMILL), alternating over ROUNDS,
#     on CORPUS as it is (no profiles) and on a copy whose JPEGs carry an
#     sRGB profile (resize 256 JPEG q85, and full-size JPEG q85).
#
# usage: colour.sh CORPUS [ROUNDS=5]
# env:   PIXMILL, BASE_PIXMILL (required for part 2; e.g. a release build of
#        the commit before colour management), SRC (the photo for part 1;
#        default: the first JPEG of CORPUS, reduced to 1200 px), JOBS,
#        SAMPLES (a folder already made by write_bench_samples: skips making
#        them), PARTS="1 2", OUT (Markdown; default bench/results-colour-DATE.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

corpus=${1:?usage: colour.sh CORPUS [ROUNDS=5]}
rounds=${2:-5}
[ -d "$corpus" ] || die "corpus directory '$corpus' not found (make one with: bash $BENCH_DIR/corpus.sh DIR)"
need vips python3
need_pil
find_pixmill
make_scratch colour
MD=${OUT:-$BENCH_DIR/results-colour-$(date +%Y%m%d-%H%M%S).md}
md_header "pixmill colour management (colour.sh)"

# mad A B : mean absolute difference of two same-size images, per channel.
mad() {
  python3 - "$1" "$2" <<'PY'
import sys
from PIL import Image, ImageChops, ImageStat
a = Image.open(sys.argv[1]).convert("RGB")
b = Image.open(sys.argv[2]).convert("RGB")
assert a.size == b.size, (a.size, b.size)
print("%.2f" % (sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3))
PY
}

accuracy() {
  local src=${SRC:-} samples=${SAMPLES:-$SCRATCH/samples} f name p v n
  if [ -n "${SAMPLES:-}" ]; then
    src="(samples made beforehand in $SAMPLES)"
  elif [ -z "$src" ]; then
    f=$(image_list "$corpus" | tr '\0' '\n' | grep -i '\.jpe\?g$' | head -n 1)
    src=$SCRATCH/src.png
    vips thumbnail "$f" "$src" 1200
  fi
  if [ -z "${SAMPLES:-}" ]; then
    note "making wide-gamut samples from $src"
    (cd "$REPO_ROOT" && PIXMILL_COLOUR_SRC=$src PIXMILL_COLOUR_OUT=$samples \
      cargo test -q --test tests colour::write_bench_samples -- --ignored >/dev/null)
  fi
  {
    printf '\n## Accuracy: MAD from the sRGB original (levels)\n\n'
    printf -- '- source: `%s`\n\n| input | no colour management | pixmill | libvips |\n|---|---:|---:|---:|\n' "$src"
  } >>"$MD"
  printf '\n%-16s %10s %10s %10s\n' input "as-is" pixmill libvips
  for f in "$samples"/*.jpg "$samples"/*-16.png; do
    name=$(basename "$f"); name=${name%.*}
    mkdir -p "$SCRATCH/p/$name"
    "$PIXMILL" convert "$f" -o "$SCRATCH/p/$name" -f png -q
    "$PIXMILL" convert "$f" -o "$SCRATCH/n/$name" -f png -q --colour keep
    vips icc_transform "$f" "$SCRATCH/$name-vips.png" srgb --embedded --intent relative
    p=$(mad "$SCRATCH/p/$name/$name.png" "$samples/reference.png")
    n=$(mad "$SCRATCH/n/$name/$name.png" "$samples/reference.png")
    v=$(mad "$SCRATCH/$name-vips.png" "$samples/reference.png")
    printf '%-16s %10s %10s %10s\n' "$name" "$n" "$p" "$v"
    printf '| %s | %s | %s | %s |\n' "$name" "$n" "$p" "$v" >>"$MD"
  done
}

# with_srgb_profiles SRC DEST : DEST gets SRC's JPEGs with an sRGB ICC
# profile (APP2) inserted after SOI, and its PNGs as they are.
with_srgb_profiles() {
  mkdir -p "$2"
  vips black "$SCRATCH/black.v" 1 1 --bands 3
  vips icc_export "$SCRATCH/black.v" "$SCRATCH/black.jpg" --output-profile srgb
  python3 - "$1" "$2" "$SCRATCH/black.jpg" <<'PY'
import os, sys, shutil
src, dst, donor = sys.argv[1:]
d = open(donor, "rb").read()
# The donor's APP2 ICC segment (vips embeds its built-in sRGB profile).
i = d.index(b"\xff\xe2")
n = int.from_bytes(d[i + 2:i + 4], "big")
app2 = d[i:i + 2 + n]
assert app2[4:16] == b"ICC_PROFILE\0", "no ICC segment in the donor"
for f in sorted(os.listdir(src)):
    p = os.path.join(src, f)
    if f.lower().endswith((".jpg", ".jpeg")):
        data = open(p, "rb").read()
        open(os.path.join(dst, f), "wb").write(data[:2] + app2 + data[2:])
    elif f.lower().endswith(".png"):
        shutil.copy(p, dst)
PY
}

cost() {
  [ -n "${BASE_PIXMILL:-}" ] || die "set BASE_PIXMILL to a build without colour management for part 2"
  local tagged=$SCRATCH/tagged items
  with_srgb_profiles "$corpus" "$tagged"
  items=$(image_list "$corpus" | tr -cd '\0' | wc -c)
  bench_check() {
    local got; got=$(count_outputs "$2")
    [ "$got" -eq "$items" ] || echo "$got/$items outputs"
  }
  printf '\n## Cost where no transform is needed (%s rounds, alternating, JOBS=%s)\n' "$rounds" "$JOBS" >>"$MD"
  echo "- base: \`$BASE_PIXMILL\`" >>"$MD"
  for set in plain tagged; do
    local dir=$corpus
    [ "$set" = tagged ] && dir=$tagged
    image_list "$dir" | xargs -0 cat >/dev/null
    for work in thumb full; do
      CUR_DIR=$dir CUR_WORK=$work
      bench_run() {
        local bin=$PIXMILL
        [ "$1" = base ] && bin=$BASE_PIXMILL
        if [ "$CUR_WORK" = thumb ]; then
          "$bin" convert "$CUR_DIR" -o "$2" --resize 256x256 -f jpeg --quality 85 -q -j "$JOBS"
        else
          "$bin" convert "$CUR_DIR" -o "$2" -f jpeg --quality 85 -q -j "$JOBS"
        fi
      }
      note "$set corpus, $work"
      run_rounds "$set-$work" "$rounds" pixmill base
      BEST_LINE=0 summarize "$set-$work" "$set corpus ($items images), $work" base pixmill
    done
  done
}

for part in ${PARTS:-1 2}; do
  case $part in
    1) accuracy ;;
    2) cost ;;
    *) die "unknown part $part" ;;
  esac
done
echo
echo "Markdown written to $MD"
