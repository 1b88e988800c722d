#!/usr/bin/env bash
# pixmill's two CPU backends on the same corpus of real photos, in one run:
# `--backend rayon` (threads) against `--backend process` (worker
# processes), alternating over ROUNDS, medians. Reports process / rayon and
# the process backend's per-item overhead,
#   (median_process - median_rayon) / items, in milliseconds.
#
# usage: backends.sh CORPUS_DIR [ROUNDS=5]
# env:   PIXMILL, JOBS (default nproc), OUT (Markdown; default
#        bench/results-backends-DATE.md), CONVERT_ARGS (the workload;
#        default "--resize 256x256 --format jpeg --quality 85"; e.g.
#        "--format png" for large outputs, where the converted bytes the
#        workers send back over their pipes weigh most)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

corpus=${1:?usage: backends.sh CORPUS_DIR [ROUNDS=5]}
rounds=${2:-5}
[ -d "$corpus" ] || die "corpus directory '$corpus' not found (make one with: bash $BENCH_DIR/corpus.sh DIR)"
find_pixmill
make_scratch backends
MD=${OUT:-$BENCH_DIR/results-backends-$(date +%Y%m%d-%H%M%S).md}

items=$(image_list "$corpus" | tr -cd '\0' | wc -c)
[ "$items" -gt 0 ] || die "no images under $corpus"
image_list "$corpus" | xargs -0 cat >/dev/null   # warm the page cache for both

read -r -a convert_args <<<"${CONVERT_ARGS:---resize 256x256 --format jpeg --quality 85}"
bench_run() {
  "$PIXMILL" convert "$corpus" -o "$2" "${convert_args[@]}" -q --backend "$1" -j "$JOBS"
}
bench_check() {
  local got; got=$(count_outputs "$2")
  [ "$got" -eq "$items" ] || echo "$got/$items outputs"
}

md_header "pixmill backends (backends.sh)"
echo "- corpus: \`$corpus\`: $items images; \`${convert_args[*]}\`; JOBS=$JOBS; rounds: $rounds, alternating" >>"$MD"
title="rayon vs process backend, $items images"
note "$title"
run_rounds backends "$rounds" rayon process
BEST_LINE=0 summarize backends "$title" rayon process

read -r r _ < <(stats <(grep . "$SCRATCH/times/backends/rayon"))
read -r p _ < <(stats <(grep . "$SCRATCH/times/backends/process"))
read -r ratio per_item < <(awk -v r="$r" -v p="$p" -v n="$items" \
  'BEGIN { printf "%.2f %.1f\n", p / r, (p - r) / n * 1000 }')
echo "process / rayon = $ratio"
echo "process backend overhead per item = $per_item ms  ((median process - median rayon) / $items items)"
printf '\n- process / rayon = **%s**\n- process backend overhead per item = **%s ms** ((median process − median rayon) / %s items)\n' \
  "$ratio" "$per_item" "$items" >>"$MD"
echo
echo "Markdown written to $MD"
