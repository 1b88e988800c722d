#!/usr/bin/env bash
# Resumed downloads: what a rerun saves after a large download was killed.
# One SIZE_MB file (default 12) is served from 127.0.0.1 at RATE_KB KB/s
# (default 2048) by range_server.py (Range/If-Range, strong ETag). pixmill
# fetches it and is killed (SIGKILL: no chance to tidy up) once its
# partial file holds KILL_AT percent (default 60); a rerun then finishes
# it. Reported: bytes and seconds of the rerun against a full download,
# and that the result is byte-identical.
#
# usage: resume.sh
# env:   PIXMILL, SIZE_MB (12), RATE_KB (2048), KILL_AT (60)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need python3 cmp
find_pixmill
make_scratch resume
size_mb=${SIZE_MB:-12}; rate_kb=${RATE_KB:-2048}; kill_at=${KILL_AT:-60}
root="$SCRATCH/root"; mkdir -p "$root"
head -c $((size_mb << 20)) /dev/urandom >"$root/big.bin"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$BENCH_DIR/range_server.py" "$root" "$port" --rate "$rate_kb" >"$SCRATCH/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/f/big.bin"
stats() { python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["bytes"])' "http://127.0.0.1:$port/stats"; }

# A full download, for reference.
t0=$(now); "$PIXMILL" fetch -q -o "$SCRATCH/full" "$url" >/dev/null; t1=$(now)
full_s=$(elapsed "$t0" "$t1"); full_bytes=$(stats)

# Killed at KILL_AT%, then rerun.
want=$(( (size_mb << 20) * kill_at / 100 ))
part="$SCRATCH/cut/.big.bin.pixmill-partial"
"$PIXMILL" fetch -q -o "$SCRATCH/cut" "$url" >/dev/null &
pid=$!
while [ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -lt "$want" ]; do sleep 0.05; done
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
kept=$(stat -c %s "$part"); first_bytes=$(stats)
t0=$(now); "$PIXMILL" fetch -q -o "$SCRATCH/cut" --report "$SCRATCH/r.jsonl" "$url" >/dev/null; t1=$(now)
rerun_s=$(elapsed "$t0" "$t1"); rerun_bytes=$(stats)
cmp -s "$root/big.bin" "$SCRATCH/cut/big.bin" && same=yes || same=NO
resumed=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline()).get("resumed_from"))' "$SCRATCH/r.jsonl")

echo "| download | bytes sent by the server | seconds |"
echo "|---|---|---|"
echo "| full, uninterrupted | $full_bytes | $full_s |"
echo "| killed at ${kill_at}% (partial file: $kept bytes) | $first_bytes | |"
echo "| rerun (resumed_from $resumed) | $rerun_bytes | $rerun_s |"
python3 -c "import sys; f,r,fs,rs=map(float,sys.argv[1:]); print(f'\nrerun saves {100*(1-r/f):.0f}% of the bytes and {100*(1-rs/fs):.0f}% of the time of a full download; byte-identical: $same')" "$full_bytes" "$rerun_bytes" "$full_s" "$rerun_s"
