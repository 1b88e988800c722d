#!/usr/bin/env python3
"""Runs one command and measures its wall time and the peak memory of its
whole process tree, for bench/dataset.sh.

usage: dataset_measure.py LOG -- CMD [ARG...]

img2dataset forks worker processes (a multiprocessing pool and a logger
process), so one process's peak RSS says little. Every 100 ms this samples
every process descended from CMD and sums their RSS and their PSS (read
from /proc/PID/smaps_rollup: PSS splits each page shared between processes,
such as a forked worker's copy-on-write pages, among them, so the sum counts
it once). Reading it takes each process's memory-map lock: at the 20 ms
this once used, one pair of runs of a 64-thread pixmill took 18.8 s
measured against 17.5 s bare; at 100 ms the difference is within noise.
Prints one line: "WALL_S PEAK_PSS_MB PEAK_RSS_MB EXIT CPU_S", where
CPU_S is the user + system CPU time of CMD and every descendant it waited
for (img2dataset's pool workers included), which a loaded machine does not
inflate the way it does wall time.
CMD's stdout and stderr go to LOG.
"""
import os, resource, subprocess, sys, time
import psutil

INTERVAL = 0.1


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(root):
    try:
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def sample(root):
    rss = pss = 0
    for p in tree(root):
        try:
            rss += p.memory_info().rss // 1024
        except psutil.Error:
            continue
        pss += pss_kb(p.pid)
    return rss, pss


def main():
    log, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    if sep != "--" or not cmd:
        sys.exit(__doc__)
    with open(log, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak_rss = peak_pss = 0
        while proc.poll() is None:
            rss, pss = sample(root)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(INTERVAL)
        wall = time.monotonic() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{wall:.3f} {peak_pss / 1024:.1f} {peak_rss / 1024:.1f} {proc.returncode} {cpu:.2f}")


if __name__ == "__main__":
    main()
