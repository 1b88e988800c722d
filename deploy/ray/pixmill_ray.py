#!/usr/bin/env python3
"""pixmill on a Ray cluster: one Ray task per shard of one list.

    python pixmill_ray.py [--cpus C] MANIFEST PREFIX SHARDS [PIXMILL OPTIONS...]

    python pixmill_ray.py s3://photos/list.txt s3://photos/thumbs 16 \\
        --resize 256x256 --format webp

Task I runs, on a node Ray picks, in a new empty temp folder:

    pixmill convert -m MANIFEST -o PREFIX --shard I/SHARDS --jobs C --json OPTIONS...

(so pass no --shard, --jobs or --json yourself). Every node needs pixmill
(PIXMILL=/path/to/pixmill, else `pixmill` on PATH) and must reach MANIFEST,
PREFIX and the inputs: s3:// URLs (docs/cloud.md) or absolute paths on a file
system every node mounts. The driver's AWS_* and PIXMILL* variables are
passed to the tasks.

A task whose worker dies (a lost node, the OOM killer) or whose pixmill ends
with a status other than 0 or 1 is retried, up to 3 times. The retry runs
the same shard, and pixmill skips every output already up to date (those
the killed attempt put included), so it finishes the shard rather than
starting over.

Exit status: 0 every item ok or skipped; 1 some items failed (pixmill's
messages, which Ray forwards, name them); 2 a shard did not finish, even
after its retries, or Ray could not be started or joined.
"""
import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

import ray


def die_with_worker():
    # Runs in the child before exec (Linux): pixmill gets SIGTERM if this
    # worker dies, so a retry never runs beside an orphan. (Recent Ray
    # versions also kill a dead worker's process group; older ones do not.)
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@ray.remote(max_retries=3, retry_exceptions=True, scheduling_strategy="SPREAD")
def run_shard(manifest, prefix, shard, shards, cpus, options):
    cmd = [os.environ.get("PIXMILL", "pixmill"), "convert", "-m", manifest, "-o", prefix,
           "--shard", f"{shard}/{shards}", "--jobs", str(cpus), "--json", *options]
    kill = test_kill_armed(shard)  # False but in tests/ray/run.sh
    counts = Counter()
    started = time.monotonic()
    # An empty folder of its own as cwd, removed afterwards; pixmill's stderr
    # (its errors and summary) is the worker's, which Ray forwards.
    with tempfile.TemporaryDirectory(prefix="pixmill-shard-") as cwd, subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE,
        preexec_fn=die_with_worker if sys.platform == "linux" else None,
    ) as pixmill:
        for line in pixmill.stdout:  # one JSON record per item, as it finishes
            status = json.loads(line)["status"]
            counts[status] += 1
            if kill and status == "ok":
                os.kill(os.getpid(), signal.SIGKILL)
    # 0: all done; 1: some items failed, the rest are done. Anything else
    # (2 setup, 130 stopped, killed by a signal) raises, and Ray retries.
    if pixmill.returncode not in (0, 1):
        raise RuntimeError(f"pixmill exited with status {pixmill.returncode}")
    return {"exit": pixmill.returncode, "counts": counts,
            "node": ray.get_runtime_context().get_node_id()[:8],
            "seconds": time.monotonic() - started}


def test_kill_armed(shard):
    """tests/ray/run.sh only: with PIXMILL_RAY_TEST_KILL="I s3://BUCKET/PREFIX"
    each attempt of shard I leaves an object below PREFIX, and the first one
    is SIGKILLed after its first output."""
    spec = os.environ.get("PIXMILL_RAY_TEST_KILL", "").split()
    if not spec or int(spec[0]) != shard:
        return False
    import boto3  # the test's; the recipe itself needs no boto3

    bucket, prefix = spec[1].removeprefix("s3://").split("/", 1)
    s3 = boto3.client("s3")
    first = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{time.time_ns()}", Body=b"")
    return first


def main():
    parser = argparse.ArgumentParser(
        usage="%(prog)s [--cpus C] MANIFEST PREFIX SHARDS [PIXMILL OPTIONS...]",
        description="Runs pixmill convert over a Ray cluster, one task per shard.")
    parser.add_argument("--cpus", type=int, default=1,
                        help="CPUs per shard: Ray reserves them, pixmill gets --jobs C (default 1)")
    parser.add_argument("manifest", help="the list of inputs (s3://BUCKET/KEY or a shared path)")
    parser.add_argument("prefix", help="where outputs go (s3://BUCKET/PREFIX or a shared folder)")
    parser.add_argument("shards", type=int, help="how many shards (Ray tasks)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="pixmill convert's options")
    args = parser.parse_args()

    # RAY_ADDRESS, else the cluster `ray start` started on this machine, else
    # a new one-machine Ray. The tasks get the driver's store settings.
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PIXMILL"))}
    try:
        ray.init(runtime_env={"env_vars": env})
    except (ConnectionError, RuntimeError) as e:
        print(f"pixmill_ray: cannot start or join Ray: {e}", file=sys.stderr)
        sys.exit(2)

    task = run_shard.options(num_cpus=args.cpus)
    pending = {task.remote(args.manifest, args.prefix, i, args.shards, args.cpus, args.options): i
               for i in range(args.shards)}
    total, worst = Counter(), 0
    while pending:
        [done], _ = ray.wait(list(pending))
        i = pending.pop(done)
        try:
            result = ray.get(done)
        except ray.exceptions.RayError as e:  # out of retries
            reason = str(e).strip().splitlines()[-1]
            print(f"shard {i}/{args.shards}: did not finish: {reason}", flush=True)
            worst = 2
            continue
        c = result["counts"]
        total.update(c)
        worst = max(worst, result["exit"])
        print(f"shard {i}/{args.shards}: {c['ok']} ok, {c['skipped']} skipped, {c['failed']} failed"
              f" (node {result['node']}, {result['seconds']:.1f} s)", flush=True)
    print(f"{args.shards} shards: {total['ok']} ok, {total['skipped']} skipped, "
          f"{total['failed']} failed", flush=True)
    sys.exit(worst)


if __name__ == "__main__":
    main()
