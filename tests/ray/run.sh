#!/usr/bin/env bash
# deploy/ray/pixmill_ray.py on a real Ray cluster against a real S3 server:
# two Ray nodes (two raylets on this machine, one CPU each) and moto on
# 127.0.0.1. Fixture images are objects, and so is the list. 4 shards into
# one prefix must give the same keys and bytes as one pixmill run of the
# whole list; the same command again skips every object. Then the first
# attempt of one shard is SIGKILLed after its first output: Ray retries it
# once, the retry runs the whole shard and skips what the first attempt put,
# and the prefix is the same again.
#
#   tests/ray/run.sh      (PIXMILL=path/to/pixmill to test a given binary;
#                          PIXMILL_TEST_KEEP=1 keeps its folder, logs and all)
#
# Installs moto and Ray into a venv kept for the next run (tests/ray/venv.sh:
# PIXMILL_TEST_VENV, default target/ci-venv). Always stops what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$EPOCHREALTIME
since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }'; }
elapsed() { since "$started"; }
fail() { echo "ray test: FAILED: $*" >&2; exit 1; }

# Polls COMMAND until it succeeds, for at most SECONDS (never a fixed wait).
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$(($(date +%s) + limit))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.1
  done
}

# --- tools ------------------------------------------------------------------
# shellcheck source=tests/ray/venv.sh
source tests/ray/venv.sh
python=$venv/bin/python
pixmill=${PIXMILL:-$repo/target/debug/pixmill}
[ -x "$pixmill" ] || cargo build --locked --quiet
pixmill=$(realpath "$pixmill")
echo "ray test: tools ready after $(elapsed) s" >&2

# No credentials or settings of the caller's reach moto, Ray or pixmill.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(AWS_|RAY_)' || true)
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export RAY_USAGE_STATS_ENABLED=0
# Ray's token auth, with the token in the environment, not ~/.ray.
RAY_AUTH_TOKEN=$("$python" -c 'import secrets; print(secrets.token_hex(32))')
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN

work=$(mktemp -d /tmp/pixmill-ray.XXXXXX)
# Temp files (pixmill's spool folders, the tasks' folders) go with $work.
mkdir "$work/tmp"
export TMPDIR=$work/tmp
daemons=()
cleanup() {
  local status=$?
  if [ $status -ne 0 ]; then
    echo "--- ray test failed; logs:" >&2
    tail -n 20 "$work"/*.log "$work"/*.err >&2 2>/dev/null || true
  fi
  # By PID, newest first (`ray start --block` stops its node's processes on
  # SIGTERM); then wait until each is gone.
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do kill "${daemons[i]}" 2>/dev/null || true; done
  for p in "${daemons[@]}"; do
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  [ -n "${PIXMILL_TEST_KEEP:-}" ] || rm -rf "$work"
  exit $status
}
trap cleanup EXIT

free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; } # HOST PORT
alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited: $(tail -n 5 "$work/$2.log")"; }

# --- a two-node Ray cluster (before the AWS variables: tasks get them only
# through the recipe, as on a cluster whose nodes have none) -------------------
# Ray swaps 127.0.0.1 for the machine's network address, but keeps any other
# loopback address: with 127.0.0.2 all its traffic stays on loopback.
ip=127.0.0.2
gcs=$(free_port)
ray_node() { # NAME ARGS...: one node, in the foreground of its own process
  local name=$1
  shift
  "$venv/bin/ray" start --block --node-ip-address=$ip --num-cpus=1 \
    --object-store-memory=$((100 << 20)) --disable-usage-stats "$@" >"$work/$name.log" 2>&1 &
  daemons+=($!)
}
ray_node ray-head --head --port="$gcs" --temp-dir="$work/ray" --include-dashboard=false
head_up() { alive "${daemons[-1]}" ray-head && port_open $ip "$gcs"; }
wait_for "the Ray head" 60 head_up
ray_node ray-node2 --address="$ip:$gcs"
export RAY_ADDRESS=$ip:$gcs
cat >"$work/nodes.py" <<'PY'
import sys, time, ray
ray.init(logging_level="ERROR")
deadline = time.monotonic() + 60
while sum(n["Alive"] for n in ray.nodes()) < int(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit("timed out waiting for the Ray nodes")
    time.sleep(0.1)
PY
"$python" "$work/nodes.py" 2 2>"$work/nodes.err" || fail "the second Ray node never joined"
echo "ray test: 2 Ray nodes up after $(elapsed) s" >&2

# --- moto, a bucket, the fixtures and their list -------------------------------
s3_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
daemons+=($!)
moto_up() { alive "${daemons[-1]}" moto && port_open 127.0.0.1 "$s3_port"; }
wait_for "moto" 30 moto_up
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
bucket=photos

s3() { "$python" tests/ray/s3.py "$@"; }

# Photos and PNGs of every colour type, with unique names (shards name
# outputs by file name alone), and one corrupt PNG: its failure is a record.
images=(fixtures/exif/*.jpg fixtures/pngsuite/bas[in]*.png fixtures/pngsuite/xc1n0g08.png)
s3 upload "$bucket" "${images[@]}" >"$work/list.txt"
s3 put "$bucket" lists/photos.txt "$work/list.txt"
manifest=s3://$bucket/lists/photos.txt
entries=${#images[@]}
args=(--resize 64x64 --format webp)

# The single-machine run every sharded result must equal.
single_status=0
"$pixmill" convert -m "$manifest" -o "s3://$bucket/single" "${args[@]}" -q >"$work/single.out" \
  2>"$work/single.err" || single_status=$?
[ "$single_status" -eq 1 ] || fail "single-machine run: exit $single_status, expected 1 (the corrupt PNG)"
s3 objects "$bucket" single >"$work/single.objects"
[ "$(grep -c . "$work/single.objects")" -eq $((entries - 1)) ] || fail "single-machine run: $(grep -c . "$work/single.objects") objects for $((entries - 1)) images"
echo "ray test: $entries images uploaded and converted once after $(elapsed) s" >&2

recipe() { # PREFIX [ENV...]: the recipe, 4 shards; its exit status in $status
  local prefix=$1
  shift
  status=0
  env "$@" PIXMILL="$pixmill" "$python" deploy/ray/pixmill_ray.py "$manifest" "s3://$bucket/$prefix" 4 \
    "${args[@]}" >"$work/$prefix.out" 2>"$work/$prefix.err" || status=$?
  cat "$work/$prefix.out" >&2
}
same_as_single() { # PREFIX
  s3 objects "$bucket" "$1" >"$work/$1.objects"
  diff "$work/single.objects" "$work/$1.objects" >&2 || fail "s3://$bucket/$1 differs from the single-machine run"
}
shard_line() { grep "^shard $1/4: " "$work/$2.out" || fail "no line for shard $1 in $2"; }
count() { sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p" <<<"$2"; } # WORD LINE

# --- case 1: 4 shards on 2 nodes ------------------------------------------------
t=$EPOCHREALTIME
recipe sharded
[ "$status" -eq 1 ] || fail "recipe: exit $status, expected 1 (one item failed, every shard ran)"
grep -qx "4 shards: $((entries - 1)) ok, 0 skipped, 1 failed" "$work/sharded.out" || fail "recipe totals"
nodes=$(sed -n 's/.*(node \([0-9a-f]*\),.*/\1/p' "$work/sharded.out" | sort -u | wc -l)
[ "$nodes" -eq 2 ] || fail "the shards ran on $nodes node(s), expected 2"
same_as_single sharded
echo "ray test: case 1 (4 shards, 2 nodes) ok in $(since "$t") s" >&2

# --- case 2: the same command again -------------------------------------------
# Every object is up to date: skipped, none made again (the corrupt PNG fails again).
t=$EPOCHREALTIME
cp "$work/sharded.out" "$work/first.out"
recipe sharded
[ "$status" -eq 1 ] || fail "rerun: exit $status, expected 1"
grep -qx "4 shards: 0 ok, $((entries - 1)) skipped, 1 failed" "$work/sharded.out" || fail "rerun: $(tail -1 "$work/sharded.out")"
same_as_single sharded
echo "ray test: case 2 (the same command again skips everything) ok in $(since "$t") s" >&2

# --- case 3: one shard's first attempt killed -----------------------------------
# The victim: the shard with the most images, so the kill lands mid-shard.
victim=$(sed -n 's|^shard \([0-9]\)/4: \([0-9]*\) ok.*|\2 \1|p' "$work/first.out" | sort -n | tail -1 | cut -d' ' -f2)
line=$(shard_line "$victim" first)
size=$(($(count ok "$line") + $(count failed "$line")))
t=$EPOCHREALTIME
recipe retried PIXMILL_RAY_TEST_KILL="$victim s3://$bucket/attempts"
[ "$status" -eq 1 ] || fail "recipe with a killed task: exit $status, expected 1"
attempts=$(s3 objects "$bucket" attempts | grep -c . || true)
[ "$attempts" -eq 2 ] || fail "shard $victim ran $attempts time(s): expected 2 (killed, then retried once)"
line=$(shard_line "$victim" retried)
ok=$(count ok "$line") skipped=$(count skipped "$line") failed=$(count failed "$line")
# The retry ran the whole shard, and skipped at least the output the first
# attempt had reported (each object carries its stamp, so one put by a
# pixmill killed before writing its ledger is still up to date).
[ $((ok + skipped + failed)) -eq "$size" ] || fail "the retry of shard $victim saw $((ok + skipped + failed)) items, $size expected"
[ "$skipped" -ge 1 ] || fail "the retry of shard $victim made again what the first attempt had put: $line"
same_as_single retried
echo "ray test: case 3 (shard $victim killed after its first output, retried: $skipped skipped, $ok made) ok in $(since "$t") s" >&2

echo "ray test: ok in $(elapsed) s" >&2
echo "ray: 3 passed, 0 failed"
