#!/usr/bin/env bash
# pixmill under a real Slurm: starts a one-node cluster (munge, slurmctld,
# slurmd; as root, no systemd), runs deploy/slurm/pixmill-array.sbatch as a
# 4-task array over a manifest of fixture images into one shared output
# folder, and checks the result against a single-machine run of the same
# list. Then a task is cancelled mid-run and requeued: it finishes the rest,
# nothing lost, nothing done twice. Last, the same array with the list and
# the outputs in S3 (moto on 127.0.0.1): no shared output folder.
#
#   tests/slurm/run.sh            (as root; PIXMILL=path/to/pixmill to test a given binary)
#
# Installs slurm-wlm and munge if missing (Debian), and moto into a venv
# (tests/ray/venv.sh). Always stops its daemons.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$EPOCHREALTIME
elapsed() { awk -v s="$started" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }'; }

[ "$(id -u)" -eq 0 ] || { echo "slurm test: needs root (it runs the Slurm daemons)" >&2; exit 2; }
need=()
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "slurm test: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
pixmill=${PIXMILL:-$repo/target/debug/pixmill}
[ -x "$pixmill" ] || cargo build --locked --quiet
pixmill=$(realpath "$pixmill")

work=$(mktemp -d /tmp/pixmill-slurm.XXXXXX)
chmod 700 "$work"
daemons=()
cleanup() {
  local status=$?
  if [ $status -ne 0 ]; then
    echo "--- slurm test failed; state and logs:" >&2
    [ -n "${job:-}" ] && scontrol show job "$job" 2>&1 | grep -E "JobId|JobState|Reason" >&2
    tail -n 15 "$work"/*.log "$work"/jobs/*.out >&2 2>/dev/null || true
  fi
  [ -n "${release_url:-}" ] && get "$release_url" 2>/dev/null || true
  # By PID, newest first; then wait until each is gone.
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do kill "${daemons[i]}" 2>/dev/null || true; done
  for p in "${daemons[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

get() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$1"; }
fail() { echo "slurm test: FAILED: $*" >&2; exit 1; }

# Polls COMMAND until it succeeds, for at most SECONDS (the event may take
# a moment to show; never a fixed wait).
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$(($(date +%s) + limit))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.1
  done
}

# --- a one-node cluster -----------------------------------------------------
node=$(hostname -s)
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state" "$work/spool" "$work/jobs"
export SLURM_CONF=$work/slurm.conf
# Written before any daemon or client starts: they all read it.
cat >"$SLURM_CONF" <<EOF
ClusterName=pixmilltest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge.sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_min_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
KillWait=5
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge.key"
munged --force --socket="$work/munge.sock" --key-file="$work/munge.key" \
  --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munge.seed"
wait_for "munged" 10 test -s "$work/munged.pid"
daemons+=("$(cat "$work/munged.pid")")
slurmctld
wait_for "slurmctld" 10 test -s "$work/slurmctld.pid"
daemons+=("$(cat "$work/slurmctld.pid")")
slurmd
wait_for "slurmd" 10 test -s "$work/slurmd.pid"
daemons+=("$(cat "$work/slurmd.pid")")
node_idle() { [ "$(sinfo -h -n "$node" -o %t 2>/dev/null)" = idle ]; }
wait_for "the node to be idle" 30 node_idle
echo "slurm test: cluster up after $(elapsed) s" >&2

# --- fixtures and a server that can hold downloads ---------------------------
# Local fixture images (the corrupt PngSuite files included: their failure
# is a record, and the task still succeeds) plus 8 URLs.
find fixtures/exif fixtures/pngsuite -name '*.png' -o -name '*.jpg' | sort >"$work/local.txt"
mkdir -p "$work/www"
for i in 0 1 2 3 4 5 6 7; do cp fixtures/pngsuite/basn2c08.png "$work/www/u$i.png"; done
# /f/NAME serves a file; /hold/NAME sends half of it and the rest once /release is asked.
cat >"$work/server.py" <<'PY'
import http.server, os, sys, threading
root, portfile, heldfile = sys.argv[1:4]
release = threading.Event()
lock = threading.Lock()
held = 0
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        global held
        if self.path == "/release":
            release.set()
            self.send_response(204); self.end_headers(); return
        kind, name = self.path.strip("/").split("/", 1)
        data = open(os.path.join(root, name), "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if kind == "hold" and not release.is_set():
            self.wfile.write(data[: len(data) // 2]); self.wfile.flush()
            with lock:
                held += 1
                open(heldfile, "w").write(str(held))
            release.wait()
            self.wfile.write(data[len(data) // 2 :])
        else:
            self.wfile.write(data)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_address[1])); os.rename(portfile + ".tmp", portfile)
s.serve_forever()
PY
python3 "$work/server.py" "$work/www" "$work/http.port" "$work/held" &
daemons+=($!)
wait_for "the HTTP server" 10 test -s "$work/http.port"
base=http://127.0.0.1:$(cat "$work/http.port")
release_url=$base/release

args=(convert --resize 48x48 -f png --io-threads 8 --timeout 120s)
submit() { # ARRAY MANIFEST OUT -> job id
  sbatch --parsable --array="$1" --cpus-per-task=1 --chdir="$repo" \
    --output="$work/jobs/%A_%a.out" --export=ALL,PIXMILL="$pixmill" \
    deploy/slurm/pixmill-array.sbatch "$2" "$3" "${args[@]}"
}
# Polls squeue until the job has nothing pending or running.
job_over() { [ -z "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; }
task_state() { scontrol show job "$1_$2" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
held_count() { cat "$work/held" 2>/dev/null || echo 0; }

# Checks OUT against a single-machine run of MANIFEST, and the merged reports.
check_against_single_machine() { # MANIFEST OUT
  local manifest=$1 out=$2 ref=$work/ref-$(basename "$2")
  "$pixmill" "${args[@]}" -m "$manifest" -o "$ref" -q >/dev/null 2>&1 || [ $? -eq 1 ] || fail "reference run"
  diff -r "$ref" "$out" >/dev/null || fail "outputs differ from a single-machine run: $(diff -rq "$ref" "$out" | head -5)"
  local found
  found=$(find "$out" -name '.*.pixmill-*' | head -3)
  [ -z "$found" ] || fail "temps or records left: $found"
  local merged_status=0
  deploy/slurm/merge-reports.sh "$out.reports" 4 >&2 || merged_status=$?
  [ "$merged_status" -eq 1 ] || fail "merge: expected exit 1 (the corrupt fixtures failed), got $merged_status"
  local entries records unique
  entries=$(grep -c . "$manifest")
  records=$(grep -c . "$out.reports/merged.jsonl")
  unique=$(grep -o '"input":"[^"]*"' "$out.reports/merged.jsonl" | sort -u | wc -l)
  [ "$records" -eq "$entries" ] || fail "$records records for $entries inputs"
  [ "$unique" -eq "$entries" ] || fail "$unique distinct inputs in the reports, $entries expected"
}

# --- case 1: a 4-task array into one shared folder -----------------------------
cp "$work/local.txt" "$work/case1.txt"
job=$(submit 0-3 "$work/case1.txt" "$work/out1")
wait_for "job $job" 60 job_over "$job"
for t in 0 1 2 3; do
  [ "$(task_state "$job" $t)" = COMPLETED ] || fail "task $t: $(task_state "$job" $t)"
done
check_against_single_machine "$work/case1.txt" "$work/out1"
echo "slurm test: case 1 (4-task array) ok after $(elapsed) s" >&2

# --- case 2: one task cancelled mid-run, then requeued ----------------------------
{ cat "$work/local.txt"; for i in 0 1 2 3 4 5 6 7; do echo "$base/hold/u$i.png"; done; } >"$work/case2.txt"
grep /hold/ "$work/case2.txt" >"$work/urls.txt"
# The task to cancel: one whose shard holds some of the URLs.
victim=
for t in 0 1 2 3; do
  n=$("$pixmill" "${args[@]}" -m "$work/urls.txt" -o "$work/dry" --dry-run --shard "$t/4" 2>/dev/null | grep -c . || true)
  if [ "$n" -gt 0 ]; then victim=$t; break; fi
done
[ -n "$victim" ] || fail "no shard holds a URL"
job=$(submit 0-3 "$work/case2.txt" "$work/out2")
# Every download is half-way (its task mid-run, temps on disk) ...
all_held() { [ "$(held_count)" -ge 8 ]; }
wait_for "8 held downloads" 60 all_held
# ... then one task is cancelled.
cancelled_at=$(date +%s)
scancel "${job}_$victim"
victim_over() { case "$(task_state "$job" "$victim")" in CANCELLED* | FAILED) return 0 ;; *) return 1 ;; esac; }
wait_for "task $victim to end" 30 victim_over
get "$release_url"
wait_for "job $job" 60 job_over "$job"
for t in 0 1 2 3; do
  [ "$t" = "$victim" ] && continue
  [ "$(task_state "$job" $t)" = COMPLETED ] || fail "task $t: $(task_state "$job" $t)"
done
before=$(grep -c '"status":"ok"' "$work/out2.reports/report-$victim.jsonl" || true)
left=$(find "$work/out2" -name '.*.pixmill-*.tmp' | wc -l)
# Requeued, the same array index runs the same shard again and overwrites its report.
scontrol requeue "${job}_$victim"
# A requeued job waits for a begin time, by default the credential lifetime
# (120 s). Slurm revokes the cancelled run's credential with one-second
# granularity, so a start within that second is refused ("Job credential
# revoked") and the task fails: start it once the clock has moved two
# seconds past the cancel.
clock_past() { [ "$(date +%s)" -ge "$1" ]; }
wait_for "the clock to pass the revocation" 10 clock_past $((cancelled_at + 2))
scontrol update JobId="${job}_$victim" StartTime=now
wait_for "the requeued task" 60 job_over "$job"
[ "$(task_state "$job" "$victim")" = COMPLETED ] || fail "requeued task: $(task_state "$job" "$victim")"
skipped=$(grep -c '"status":"skipped"' "$work/out2.reports/report-$victim.jsonl" || true)
[ "$skipped" -eq "$before" ] || fail "the requeued task redid work: $skipped skipped, $before done before the cancel"
check_against_single_machine "$work/case2.txt" "$work/out2"

echo "slurm test: case 2 (cancel, requeue) ok after $(elapsed) s (task $victim had finished $before items and left $left temps when cancelled)" >&2

# --- case 3: the list and the outputs in S3 ------------------------------------------
# moto on 127.0.0.1 stands for the store. The tasks get its settings from
# the environment sbatch ran in; only the reports are local files.
# shellcheck source=tests/ray/venv.sh
source tests/ray/venv.sh
s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
daemons+=($!)
moto_up() { kill -0 "${daemons[-1]}" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; }
wait_for "moto" 30 moto_up
unset AWS_PROFILE AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_DEFAULT_REGION
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# pixmill's spool folders (in TMPDIR) go with $work.
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
s3() { "$venv/bin/python" tests/ray/s3.py "$@"; }
mapfile -t images <"$work/local.txt"
s3 upload photos "${images[@]}" >"$work/case3.txt"
s3 put photos lists/case3.txt "$work/case3.txt"

# Without PIXMILL_REPORTS the template refuses an s3:// OUT_DIR (a usage
# error, before any work), and makes no folder named after the URL.
refused=0
(cd "$work" && env -u PIXMILL_REPORTS SLURM_ARRAY_TASK_ID=0 PIXMILL="$pixmill" \
  "$repo/deploy/slurm/pixmill-array.sbatch" s3://photos/lists/case3.txt s3://photos/out3 "${args[@]}") \
  2>/dev/null || refused=$?
[ "$refused" -eq 2 ] || fail "an s3:// OUT_DIR without PIXMILL_REPORTS: exit $refused, expected 2"
[ ! -e "$work/s3:" ] || fail "the template made a local folder named after an s3:// URL"

job=$(PIXMILL_REPORTS=$work/out3.reports submit 0-3 s3://photos/lists/case3.txt s3://photos/out3)
wait_for "job $job" 60 job_over "$job"
for t in 0 1 2 3; do
  [ "$(task_state "$job" $t)" = COMPLETED ] || fail "task $t: $(task_state "$job" $t)"
done
# The same list converted into a local folder here: same names, same bytes.
"$pixmill" "${args[@]}" -m s3://photos/lists/case3.txt -o "$work/ref3" -q >/dev/null 2>&1 || [ $? -eq 1 ] || fail "reference run"
(cd "$work/ref3" && find . -name '.?*' -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
  while read -r f; do echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"; done) >"$work/ref3.objects"
s3 objects photos out3 >"$work/out3.objects"
[ -s "$work/ref3.objects" ] || fail "the reference run wrote nothing"
diff "$work/ref3.objects" "$work/out3.objects" >&2 || fail "s3://photos/out3 differs from a single-machine run"
merged_status=0
deploy/slurm/merge-reports.sh "$work/out3.reports" 4 >&2 || merged_status=$?
[ "$merged_status" -eq 1 ] || fail "merge (s3): expected exit 1 (the corrupt fixtures failed), got $merged_status"
[ "$(grep -c . "$work/out3.reports/merged.jsonl")" -eq "$(grep -c . "$work/case3.txt")" ] || fail "s3 case: one record per input expected"

echo "slurm test: case 3 (list and outputs in S3) ok after $(elapsed) s" >&2
echo "slurm test: ok in $(elapsed) s" >&2
