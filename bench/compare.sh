#!/usr/bin/env bash
# pixmill against peer tools, in one run: alternating tools, several rounds,
# medians. Workloads on the same corpus:
#   a  longest side 256, JPEG q85 (the mixed corpus: JPEG, PNG and WebP)
#   b  longest side 1024, WebP q80
#   c  PNG -> JPEG q85 at the same size (the corpus's PNG files only)
#   w  longest side 256, JPEG q85, the corpus's WebP files only
# Peers: vipsthumbnail (one call per file under GNU parallel, and one call
# for all files), Pillow + ProcessPoolExecutor, ImageMagick under parallel.
#
# usage: compare.sh CORPUS_DIR [ROUNDS=5]
# env:   PIXMILL (binary; default target/release/pixmill, built if missing)
#        JOBS (default nproc) for pixmill -j, parallel -j and Pillow's pool
#        PIXMILL_ARGS (extra pixmill convert arguments, e.g. "--backend process")
#        OUT (Markdown results file; default bench/results-DATE.md)
#        WORKLOADS (default "a b c w"; w is skipped if the corpus has no WebP)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

corpus=${1:?usage: compare.sh CORPUS_DIR [ROUNDS=5]}
rounds=${2:-5}
workloads=${WORKLOADS:-a b c w}
[ -d "$corpus" ] || die "corpus directory '$corpus' not found (make one with: bash $BENCH_DIR/corpus.sh DIR)"
need vipsthumbnail vips vipsheader parallel python3
need_pil
find_imagemagick
find_pixmill
read -r -a pixmill_extra <<<"${PIXMILL_ARGS:-}"

make_scratch compare
MD=${OUT:-$BENCH_DIR/results-$(date +%Y%m%d-%H%M%S).md}

# Every tool reads the same flat directory of hard links to the corpus images
# (peer_pillow.py and vipsthumbnail's %s naming want a flat directory).
mapfile -d '' images < <(image_list "$corpus")
[ ${#images[@]} -gt 0 ] || die "no JPEG/PNG/WebP/TIFF images under $corpus"
link_into "$SCRATCH/in/all" "${images[@]}"
pngs=()
for f in "${images[@]}"; do case ${f,,} in *.png) pngs+=("$f") ;; esac; done
png_note="the corpus's ${#pngs[@]} PNG files"
if [ ${#pngs[@]} -eq 0 ]; then
  # No PNGs in the corpus: make some from (up to 8) JPEGs in the scratch dir.
  mkdir -p "$SCRATCH/in/png"
  for f in "${images[@]:0:8}"; do
    b=$(basename "$f"); vips copy "$f" "$SCRATCH/in/png/${b%.*}.png"
  done
  png_note="no PNG in the corpus: $(ls "$SCRATCH/in/png" | wc -l) PNGs made from its JPEGs (vips copy) in a temp dir"
  note "$png_note"
else
  link_into "$SCRATCH/in/png" "${pngs[@]}"
fi
webps=()
for f in "${images[@]}"; do case ${f,,} in *.webp) webps+=("$f") ;; esac; done
if [ ${#webps[@]} -gt 0 ]; then
  link_into "$SCRATCH/in/webp" "${webps[@]}"
elif [[ " $workloads " == *" w "* ]]; then
  note "no WebP in the corpus: workload w skipped (bench/corpus.sh makes some)"
  workloads=${workloads//w/}
fi
n_webp=${#webps[@]}
n_all=$(ls "$SCRATCH/in/all" | wc -l)
n_png=$(ls "$SCRATCH/in/png" | wc -l)
cat "$SCRATCH"/in/*/* >/dev/null   # same warm page cache for every tool

input_of() { case $1 in c) echo "$SCRATCH/in/png" ;; w) echo "$SCRATCH/in/webp" ;; *) echo "$SCRATCH/in/all" ;; esac; }

# bench_run LABEL OUT : one tool, one workload ($W), inputs from input_of.
bench_run() {
  local label=$1 out=$2 in; in=$(input_of "$W")
  # The WebP-only workload runs the same recipe as a.
  local w=$W; [ "$w" != w ] || w=a
  case $w:$label in
    a:pixmill) "$PIXMILL" convert "$in" -o "$out" --resize 256x256 --format jpeg --quality 85 -q -j "$JOBS" ${pixmill_extra[@]+"${pixmill_extra[@]}"} ;;
    b:pixmill) "$PIXMILL" convert "$in" -o "$out" --resize 1024x1024 --format webp --quality 80 -q -j "$JOBS" ${pixmill_extra[@]+"${pixmill_extra[@]}"} ;;
    c:pixmill) "$PIXMILL" convert "$in" -o "$out" --format jpeg --quality 85 -q -j "$JOBS" ${pixmill_extra[@]+"${pixmill_extra[@]}"} ;;
    # -q: parallel must not hand "x.jpg[Q=85]" to a shell as a glob.
    a:vips-parallel) parallel -q -j "$JOBS" vipsthumbnail {} -s 256 -o "$out/%s.jpg[Q=85]" ::: "$in"/* ;;
    b:vips-parallel) parallel -q -j "$JOBS" vipsthumbnail {} -s 1024 -o "$out/%s.webp[Q=80]" ::: "$in"/* ;;
    c:vips-copy-parallel) parallel -q -j "$JOBS" vips copy {} "$out/{/.}.jpg[Q=85]" ::: "$in"/* ;;
    a:vips-single) vipsthumbnail -s 256 -o "$out/%s.jpg[Q=85]" "$in"/* ;;
    b:vips-single) vipsthumbnail -s 1024 -o "$out/%s.webp[Q=80]" "$in"/* ;;
    a:pillow) python3 "$BENCH_DIR/peer_pillow.py" "$in" "$out" 256 "$JOBS" ;;
    b:pillow) python3 "$BENCH_DIR/peer_pillow_webp.py" "$in" "$out" 1024 80 "$JOBS" ;;
    # thumbnail() never enlarges, so a huge box keeps every image's size.
    c:pillow) python3 "$BENCH_DIR/peer_pillow.py" "$in" "$out" 1000000 "$JOBS" ;;
    a:imagemagick) parallel -q -j "$JOBS" "$IM" {} -auto-orient -thumbnail 256x256 -quality 85 "$out/{/.}.jpg" ::: "$in"/* ;;
    b:imagemagick) parallel -q -j "$JOBS" "$IM" {} -auto-orient -thumbnail 1024x1024 -quality 80 "$out/{/.}.webp" ::: "$in"/* ;;
    c:imagemagick) parallel -q -j "$JOBS" "$IM" {} -quality 85 "$out/{/.}.jpg" ::: "$in"/* ;;
    *) die "no command for $W:$label" ;;
  esac
}

# bench_check LABEL OUT : one output per input; for c, also the same size.
bench_check() {
  local out=$2 in want got; in=$(input_of "$W")
  want=$(ls "$in" | wc -l); got=$(count_outputs "$out")
  if [ "$got" -ne "$want" ]; then echo "$got/$want outputs"; return; fi
  if [ "$W" = c ]; then
    local src dst; src=$(ls "$in" | head -n 1); dst=$(ls "$out"/"${src%.*}".* 2>/dev/null | head -n 1)
    if [ -z "$dst" ]; then echo "no output named ${src%.*}.*"; return; fi
    local a b
    a=$(vipsheader -f width "$in/$src")x$(vipsheader -f height "$in/$src")
    b=$(vipsheader -f width "$dst")x$(vipsheader -f height "$dst" 2>/dev/null)
    [ "$a" = "$b" ] || echo "size changed: $src $a -> $b"
  fi
}

md_header "pixmill vs peers (compare.sh)"
{
  echo "- corpus: \`$corpus\`: $n_all images ($(du -shL "$SCRATCH/in/all" | cut -f1)); workload c: $png_note"
  echo "- rounds: $rounds, alternating, tool order rotated each round; JOBS=$JOBS"
  echo "- peers: $(vips --version), $("$IM" -version | head -n 1 | cut -d' ' -f2-3) ($IM), Pillow $(python3 -c 'import PIL; print(PIL.__version__)'), $(parallel --version | head -n 1)"
  echo "- times are wall-clock seconds; ÷ pixmill > 1 means the tool is slower than pixmill"
} >>"$MD"

for w in $workloads; do
  case $w in
    a) labels=(pixmill vips-parallel vips-single pillow imagemagick); title="a: mixed corpus, longest side 256, JPEG q85, $n_all images" ;;
    b) labels=(pixmill vips-parallel vips-single pillow imagemagick); title="b: longest side 1024, WebP q80, $n_all images" ;;
    c) labels=(pixmill vips-copy-parallel pillow imagemagick); title="c: PNG -> JPEG q85, same size, $n_png images" ;;
    w) labels=(pixmill vips-parallel vips-single pillow imagemagick); title="w: WebP only, longest side 256, JPEG q85, $n_webp images" ;;
    *) die "unknown workload '$w' (a, b, c or w)" ;;
  esac
  note "workload $title"
  run_rounds "$w" "$rounds" "${labels[@]}"
  summarize "$w" "$title" "${labels[@]}"
done
echo
echo "Markdown written to $MD"
