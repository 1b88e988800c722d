#!/usr/bin/env bash
# Walk cost: `pixmill convert DIR --dry-run -f webp` over N tiny PNGs in 100
# folders, named `*.png` (taken by name, no extra read) and without any
# extension (each told by its first bytes). Compares against BEFORE (another
# pixmill binary) when given. Usage: bench/walk.sh [N=50000] [ROUNDS=5]
set -euo pipefail
N=${1:-50000}
ROUNDS=${2:-5}
here="$(cd "$(dirname "$0")" && pwd)"
PIXMILL=${PIXMILL:-$here/../target/release/pixmill}
BEFORE=${BEFORE:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$N" <<'PY'
import os, struct, sys, zlib
root, n = sys.argv[1], int(sys.argv[2])
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
png = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(b'\x00\xff\x00\x00')) + chunk(b'IEND', b''))
for i in range(n):
    for kind, name in (('named', f'img{i:06}.png'), ('bare', f'img{i:06}')):
        d = os.path.join(root, kind, f'd{i % 100:03}')
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, name), 'wb').write(png)
PY
run() { # label binary folder
  local t0 t1
  t0=$(date +%s.%N)
  nice -n 10 "$2" convert "$work/$3" -o "$work/out" --dry-run -f webp -q >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  echo "$1 $3 $(echo "$t1 - $t0" | bc)"
}
for _ in $(seq "$ROUNDS"); do
  for folder in named bare; do
    run after "$PIXMILL" "$folder"
    [ -n "$BEFORE" ] && run before "$BEFORE" "$folder"
  done
done | sort | awk '{k=$1" "$2; v[k]=v[k]" "$3} END {for (k in v) print k": "v[k]}'
