#!/bin/bash
# Merges the reports of a pixmill job array (report-I.jsonl, one per array
# task) into one JSON Lines file and prints the run's totals.
#
#   merge-reports.sh REPORTS_DIR [EXPECTED_TASKS]
#
# Runs anywhere (a login node, or as a dependent job:
#   sbatch --dependency=afterany:JOBID merge-reports.sh /shared/thumbs.reports 16).
# Writes REPORTS_DIR/merged.jsonl, ordered by task index.
# Exit status: 0 every item ok or skipped; 1 some items failed (read
# merged.jsonl: `grep '"status":"failed"'`); 2 no reports, or fewer than
# EXPECTED_TASKS (a task that never ran: resubmit it).
#
#SBATCH --job-name=pixmill-merge
#SBATCH --cpus-per-task=1
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: merge-reports.sh REPORTS_DIR [EXPECTED_TASKS]" >&2
  exit 2
fi
dir=${1%/}
expected=${2:-}
merged=$dir/merged.jsonl

# Task indices in numeric order (report-10 after report-9).
mapfile -t reports < <(find "$dir" -maxdepth 1 -name 'report-*.jsonl' -printf '%f\n' |
  sed -n 's/^report-\([0-9][0-9]*\)\.jsonl$/\1/p' | sort -n |
  sed "s|.*|$dir/report-&.jsonl|")
if [ ${#reports[@]} -eq 0 ]; then
  echo "merge-reports: no report-*.jsonl in $dir" >&2
  exit 2
fi
cat "${reports[@]}" >"$merged.partial"
mv "$merged.partial" "$merged"

count() { grep -c "\"status\":\"$1\"" "$merged" || true; }
items=$(grep -c . "$merged" || true)
ok=$(count ok) skipped=$(count skipped) failed=$(count failed)
echo "$items items from ${#reports[@]} task reports: $ok ok, $skipped skipped, $failed failed -> $merged"

if [ -n "$expected" ] && [ ${#reports[@]} -lt "$expected" ]; then
  echo "merge-reports: only ${#reports[@]} of $expected tasks wrote a report; resubmit the missing ones" >&2
  exit 2
fi
[ "$failed" -eq 0 ] || exit 1
