#!/usr/bin/env bash
# Smart crops, two questions:
#  1. Cost: square cover thumbnails of CORPUS with --crop centre, entropy
#     and attention (and --gravity north for the resample-the-whole-image
#     path without a search), timed by hyperfine in alternation; CPU time
#     (user + sys) is reported beside wall time, as it moves less when the
#     machine is shared.
#  2. Agreement with libvips: for every non-square image, the window
#     pixmill keeps against the one `vips smartcrop` keeps on vipsthumbnail's
#     shrink (bench/smartcrop_iou.py), as intersection over union.
#
# usage: smartcrop.sh CORPUS [RUNS=10] [SIZE=256]
# env:   PIXMILL, JOBS, OUT (Markdown; default bench/results-smartcrop-DATE.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

corpus=${1:?usage: smartcrop.sh CORPUS [RUNS=10] [SIZE=256]}
runs=${2:-10}
size=${3:-256}
[ -d "$corpus" ] || die "corpus directory '$corpus' not found (make one with: bash $BENCH_DIR/corpus.sh DIR)"
need hyperfine vips vipsthumbnail python3
need_pil
find_pixmill
make_scratch smartcrop
MD=${OUT:-$BENCH_DIR/results-smartcrop-$(date +%Y%m%d-%H%M%S).md}

common="$PIXMILL convert $corpus -o $SCRATCH/out -j $JOBS -q --on-exists overwrite --resize ${size}x${size} --fit cover -f jpeg"
hyperfine --warmup 1 --runs "$runs" --export-json "$SCRATCH/cost.json" \
  -n centre "$common --crop centre" \
  -n north "$common --gravity north" \
  -n entropy "$common --crop entropy" \
  -n attention "$common --crop attention" >&2

{
  echo "# Smart crops: cost and agreement with libvips ($(date -u +%F))"
  echo
  echo "pixmill $($PIXMILL --version | head -1), $(vips --version), $(nproc) cores, corpus \`$corpus\` ($(ls "$corpus" | wc -l) files), ${size}x${size} cover, JPEG q85, -j $JOBS, $runs runs each."
  echo
  echo "## Cost"
  echo
  python3 - "$SCRATCH/cost.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = next(x for x in r if x["command"] == "centre")
cpu = lambda x: x["user"] + x["system"]
print("| crop | wall (s) | CPU (s) | wall / centre | CPU / centre |")
print("|---|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['mean']:.3f} ± {x['stddev']:.3f} | {cpu(x):.3f} | "
          f"{x['mean'] / base['mean']:.3f} | {cpu(x) / cpu(base):.3f} |")
EOF
  echo
  echo "## Windows against libvips (IoU)"
  echo
  for mode in attention entropy; do
    echo '```'
    python3 "$BENCH_DIR/smartcrop_iou.py" "$PIXMILL" "$corpus" "$size" "$mode" "$SCRATCH/iou"
    echo '```'
  done
} > "$MD"
note "wrote $MD"
cat "$MD"
