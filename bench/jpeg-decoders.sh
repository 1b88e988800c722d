#!/usr/bin/env bash
# Which JPEG decoder is fastest for each kind of JPEG (baseline or
# progressive), scaled on load for a 256 px thumbnail and at full size:
# jpeg-decoder, zune-jpeg (via the image crate) and libjpeg-turbo, timed in
# one process by crates/imaging/examples/jpeg_decoders.rs (best of 3 per file).
#
# usage: jpeg-decoders.sh CORPUS_DIR
# env:   OUT (Markdown results file; default bench/results-jpeg-decoders.md)
#        NEED (longest side the scaled decode must keep; default 512)
#        EIGHTHS=any (libjpeg-turbo may scale by any eighth, not only 1/2, 1/4, 1/8)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

corpus=${1:?usage: jpeg-decoders.sh CORPUS_DIR}
[ -d "$corpus" ] || die "corpus directory '$corpus' not found (make one with: bash $BENCH_DIR/corpus.sh DIR)"
need cargo python3
MD=${OUT:-$BENCH_DIR/results-jpeg-decoders.md}
(cd "$REPO_ROOT" && cargo build --release -p pixmill-imaging --example jpeg_decoders >&2)
bin=$REPO_ROOT/target/release/examples/jpeg_decoders

# A JPEG is progressive when its frame header is SOF2 (0xFFC2).
kinds=$(python3 - "$corpus" <<'PY'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        if f.lower().endswith((".jpg", ".jpeg")):
            p = os.path.join(root, f)
            data = open(p, "rb").read()
            i, kind = 2, "baseline"
            while i + 4 <= len(data) and data[i] == 0xFF:
                m, n = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
                if m in (0xC2, 0xC6, 0xCA, 0xCE):
                    kind = "progressive"
                if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC) or m == 0xDA:
                    break
                i += 2 + n
            print(kind, p)
PY
)
{
  echo "# JPEG decoders per kind (jpeg-decoders.sh)"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); git $(git -C "$REPO_ROOT" rev-parse --short HEAD)"
  echo "- machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- corpus: $corpus; scaled = smallest DCT scale keeping a longest side of ${NEED:-512}"
  echo "- total ms over the files of each kind, best of 3 runs per file, one thread"
  echo
  echo "| kind | files | jpeg-decoder scaled | libjpeg-turbo scaled | jpeg-decoder full | zune-jpeg full | libjpeg-turbo full |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for kind in baseline progressive; do
    mapfile -t files < <(awk -v k="$kind" '$1 == k { sub(/^[a-z]+ /, ""); print }' <<<"$kinds")
    [ ${#files[@]} -gt 0 ] || continue
    read -r -a t < <("$bin" "${files[@]}" | awk '$NF == "TOTAL"')
    echo "| $kind | ${#files[@]} | ${t[0]} | ${t[1]} | ${t[2]} | ${t[3]} | ${t[4]} |"
  done
  echo
  echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$MD"
