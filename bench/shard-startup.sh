#!/usr/bin/env bash
# Start-up cost of a tiny shard against a big shared output folder: what
# every array task pays before and besides its own work.
#
#   bench/shard-startup.sh [FILES=100000] [ROUNDS=5] [OLD_PIXMILL]
#
# Fills an output folder with FILES files (100 folders, as a mirrored tree
# would), then times `pixmill convert ONE_IMAGE -o THAT_FOLDER` ROUNDS times:
# time to its first output line on stdout and total wall time, with a warm
# page cache, and (as root) with a cold one (`drop_caches` before each run:
# the closest a single machine gets to a network file system). With
# OLD_PIXMILL (e.g. a release build of an earlier commit) both are timed,
# alternating, in the same run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
files=${1:-100000}
rounds=${2:-5}
old=${3:-}
find_pixmill
need python3

work=$(mktemp -d /tmp/pixmill-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/out
note "filling $out with $files files"
python3 - "$out" "$files" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(out, "d%03d" % (i % 100))
    if i < 100:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.jpg" % i), "wb") as f:
        f.write(b"x")
PY
image=$REPO_ROOT/fixtures/pngsuite/basn2c08.png

# One run: prints "first_ms total_ms".
time_one() {
  python3 - "$1" "$image" "$out" <<'PY'
import subprocess, sys, time
binary, image, out = sys.argv[1:4]
t0 = time.perf_counter()
p = subprocess.Popen([binary, "convert", image, "-o", out, "--on-exists", "overwrite", "-q"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
p.stdout.readline()
first = time.perf_counter() - t0
p.stdout.read()
code = p.wait()
total = time.perf_counter() - t0
assert code == 0, code
print("%.1f %.1f" % (first * 1000, total * 1000))
PY
}

cold_ok=false
[ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ] && cold_ok=true
$cold_ok || note "not root: warm page cache only"

binaries=("$PIXMILL")
[ -n "$old" ] && binaries=("$old" "$PIXMILL")
declare -A results
for cache in warm cold; do
  [ $cache = cold ] && ! $cold_ok && continue
  for b in "${binaries[@]}"; do time_one "$b" >/dev/null; done # warm-up
  for ((r = 0; r < rounds; r++)); do
    for b in "${binaries[@]}"; do
      if [ $cache = cold ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi
      results[$cache,$b]+="$(time_one "$b")"$'\n'
    done
  done
done

printf '%-6s %-50s %22s %22s\n' cache binary "first output ms (med)" "total ms (med)"
for key in "${!results[@]}"; do
  cache=${key%%,*} b=${key#*,}
  med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  first=$(printf '%s' "${results[$key]}" | awk '{ print $1 }' | med)
  total=$(printf '%s' "${results[$key]}" | awk '{ print $2 }' | med)
  printf '%-6s %-50s %22s %22s\n' "$cache" "$b" "$first" "$total"
done | sort
