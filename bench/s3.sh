#!/usr/bin/env bash
# Object storage figures (issue 20), against moto's S3 server on 127.0.0.1:
#   1. the same conversion to a local folder and to s3://, ROUNDS each,
#      alternating (the ratio is s3 / local);
#   2. a rerun over N existing objects: the requests it makes (moto logs
#      one line per request) and its wall time;
#   3. the peak memory of a fetch whose one body becomes a multipart upload.
# Usage: [PARTS="1 2 3 4"] bench/s3.sh CORPUS_DIR [N_OBJECTS] [BIG_MB]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
CORPUS=${1:?usage: bench/s3.sh CORPUS_DIR [N_OBJECTS] [BIG_MB]}
N=${2:-10000}
BIG_MB=${3:-1024}
ROUNDS=${ROUNDS:-3}
find_pixmill
MOTO=${PIXMILL_MOTO:-$(command -v moto_server || echo "$REPO_ROOT/target/moto-venv/bin/moto_server")}
[ -x "$MOTO" ] || die "moto_server not found: pip install 'moto[server]' (or run the tests once)"

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$MOTO" -H 127.0.0.1 -p "$PORT" 2>"$WORK/moto.log" >/dev/null &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null; rm -rf "$WORK"' EXIT
until grep -q "Running on" "$WORK/moto.log"; do kill -0 $MOTO_PID || die "moto exited"; sleep 0.1; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
curl -sf -X PUT "$AWS_ENDPOINT_URL/bench" >/dev/null
requests() { grep -c '" [0-9][0-9][0-9] ' "$WORK/moto.log" || true; }
secs() { python3 -c "import time; print(time.time())"; }

# COPIES copies of the corpus (copies, not links: pixmill merges the same
# file given twice), so the fixed costs (a listing, a ledger) weigh as
# they would on a real job.
COPIES=${COPIES:-4}
mkdir -p "$WORK/photos"
for c in $(seq "$COPIES"); do
  mkdir -p "$WORK/photos/$c"
  cp "$CORPUS"/* "$WORK/photos/$c/"
done
CORPUS_N=$(find "$WORK/photos" -type f | wc -l)
part() { case " ${PARTS:-1 2 3 4} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if part 1; then
echo "## 1. convert $CORPUS_N photos to 256 px WebP: local folder vs s3://"
echo
echo "| round | local s | s3 s |"
echo "|---|---|---|"
tl=0; ts=0
for r in $(seq "$ROUNDS"); do
  rm -rf "$WORK/local"
  a=$(secs); "$PIXMILL" convert "$WORK/photos" -o "$WORK/local" --resize 256x256 --format webp -q >/dev/null; b=$(secs)
  a2=$(secs); "$PIXMILL" convert "$WORK/photos" -o "s3://bench/round$r" --resize 256x256 --format webp -q >/dev/null; b2=$(secs)
  l=$(python3 -c "print(round($b-$a,2))"); s=$(python3 -c "print(round($b2-$a2,2))")
  echo "| $r | $l | $s |"
  tl=$(python3 -c "print($tl+$l)"); ts=$(python3 -c "print($ts+$s)")
done
echo
echo "s3 / local: $(python3 -c "print(round($ts/$tl,2))")x"
echo
fi

if part 2; then

echo "## 2. a rerun over $N existing objects"
mkdir -p "$WORK/small"
python3 - "$WORK/small" "$N" <<'EOF'
import sys, zlib, struct
d, n = sys.argv[1], int(sys.argv[2])
def png(v):
    raw = b"\x00" + bytes([v % 256, (v >> 8) % 256, 7])
    def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
for i in range(n):
    open(f"{d}/{i:06d}.png", "wb").write(png(i))
EOF
# The first run puts them, then the measured rerun.
"$PIXMILL" convert "$WORK/small" -o "s3://bench/many" -q >/dev/null
before=$(requests)
a=$(secs); "$PIXMILL" convert "$WORK/small" -o "s3://bench/many" -q >/dev/null; b=$(secs)
after=$(requests)
echo "rerun: $((after - before)) requests, $(python3 -c "print(round($b-$a,2))") s, for $N objects up to date"
echo
fi


# A loopback HTTP server for parts 3 and 4.
python3 -m http.server --bind 127.0.0.1 0 --directory "$WORK" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
trap 'kill $MOTO_PID $HTTP_PID 2>/dev/null; rm -rf "$WORK"' EXIT
until grep -q "Serving HTTP" "$WORK/http.log"; do sleep 0.1; done
HPORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/http.log" | head -1)

if part 3; then
echo "## 3. peak memory of a ${BIG_MB} MB download put as a multipart upload"
python3 - "$WORK/big.bin" "$BIG_MB" <<'EOF'
import sys, os
with open(sys.argv[1], "wb") as f:
    chunk = os.urandom(1 << 20)
    for _ in range(int(sys.argv[2])):
        f.write(chunk)
EOF
/usr/bin/time -f "%M KB peak, %e s" "$PIXMILL" fetch "http://127.0.0.1:$HPORT/big.bin" -o s3://bench/big -q 2>&1 >/dev/null | tail -1

rm -f "$WORK/big.bin"
fi

if part 4; then
echo
echo "## 4. peak memory while writing a ${BIG_MB} MB data file (fetch into one WebDataset tar on s3://)"
mkdir -p "$WORK/parts"
python3 - "$WORK/parts" "$BIG_MB" <<'EOF2'
import sys, os
d, mb = sys.argv[1], int(sys.argv[2])
for i in range(mb // 16):
    with open(f"{d}/{i:04d}.bin", "wb") as f:
        f.write(os.urandom(16 << 20))
EOF2
for f in "$WORK"/parts/*.bin; do echo "http://127.0.0.1:$HPORT/parts/$(basename "$f")"; done > "$WORK/parts.txt"
/usr/bin/time -f "%M KB peak, %e s" "$PIXMILL" fetch -m "$WORK/parts.txt" -o s3://bench/ds --output-format webdataset --samples-per-file 100000 -q 2>&1 >/dev/null | tail -1
fi
