#!/usr/bin/env bash
# Peak memory (Max RSS, GNU time) of `pixmill convert --dry-run` over parquet
# manifests of 10,000 to 1,000,000 rows, and over CSV lists of the same rows
# for comparison: parquet lists are read a row group at a time, so peak RSS
# follows the row-group size, not the number of rows.
#
# usage: parquet-manifest.sh        env: PIXMILL, OUT_DIR (a temp dir)
# Writes the lists with examples/parquet_list (cargo build --example).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
find_pixmill
(cd "$REPO_ROOT" && cargo build --quiet --example parquet_list)
gen=$REPO_ROOT/target/debug/examples/parquet_list
dir=${OUT_DIR:-$(mktemp -d)}
cd "$dir"
peak() { /usr/bin/time -f %M nice -n 10 "$PIXMILL" convert "$@" -o out \
  --output-format webdataset --dry-run 2>&1 >/dev/null | tail -1; }
uptime
echo "| list | rows | row group | file bytes | peak RSS (KiB) |"
echo "|---|---|---|---|---|"
for spec in "10000 100000" "100000 100000" "1000000 100000" "1000000 10000"; do
  set -- $spec
  f=list-$1-$2.parquet
  [ -f "$f" ] || "$gen" "$f" "$1" "$2"
  echo "| parquet | $1 | $2 | $(stat -c %s "$f") | $(peak -m "$f") |"
done
for rows in 10000 1000000; do
  f=list-$rows.csv
  [ -f "$f" ] || python3 -c "
import sys
n = int(sys.argv[1])
with open(sys.argv[2], 'w') as f:
    f.write('URL,TEXT,id,similarity\n')
    for i in range(n):
        f.write(f'http://host{i%5000}.invalid/images/{i:09}.jpg,a photo of item number {i} on a table,{i},{(i%100)/100}\n')
" "$rows" "$f"
  echo "| csv | $rows | - | $(stat -c %s "$f") | $(peak -m "$f" --url-col URL) |"
done
uptime
