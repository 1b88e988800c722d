#!/usr/bin/env python3
"""Checks one webdataset output folder for bench/dataset.sh, with readers
neither tool wrote: Python's tarfile, the webdataset package and pyarrow.

usage: dataset_check.py DIR ROWS SIDE

Prints "OK_SAMPLES" and exits 0 when the folder is right; otherwise prints
what is wrong on stderr and exits 1. Right means:
- every NNNNN.tar opens with tarfile, and each sample in it has an image, a
  .txt caption and a .json whose source_id matches the caption's row (the
  extra column passed through); every image decodes and its shorter side is
  SIDE (keep_ratio / --fit outside), within a pixel of rounding;
- the webdataset reader yields the same number of samples;
- the parquet metadata files (one per tar) read with pyarrow hold ROWS rows
  in all, failures included, and their successful rows match the samples.
"""
import glob, io, json, os, re, sys, tarfile
import pyarrow.parquet as pq
import webdataset as wds
from PIL import Image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
OK_STATUSES = ("success", "ok")  # img2dataset, pixmill


def fail(msg):
    print(f"{msg}", file=sys.stderr)
    sys.exit(1)


def read_tars(tars, side):
    samples = {}
    for path in tars:
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if not m.isfile():
                    continue
                key, _, ext = m.name.rpartition(".")
                samples.setdefault(key, {})[ext] = tar.extractfile(m).read()
    for key, parts in samples.items():
        image = next((parts[e] for e in IMAGE_EXTS if e in parts), None)
        if image is None or "txt" not in parts or "json" not in parts:
            fail(f"sample {key}: parts {sorted(parts)} (want an image, txt and json)")
        with Image.open(io.BytesIO(image)) as im:
            im.load()
            if side and abs(min(im.size) - side) > 1:
                fail(f"sample {key}: image is {im.size[0]}x{im.size[1]}, shorter side should be {side}")
        meta = json.loads(parts["json"])
        row = re.search(r"#(\d+)$", parts["txt"].decode())
        if not row or meta.get("source_id") != f"src-{int(row.group(1)):05}":
            fail(f"sample {key}: caption {parts['txt'][:40]!r} but source_id {meta.get('source_id')!r}")
    return len(samples)


def read_with_webdataset(tars):
    ds = wds.WebDataset(tars, shardshuffle=False, empty_check=False)
    return sum(1 for s in ds if any(e in s for e in IMAGE_EXTS))


def read_metadata(tars):
    rows = ok = 0
    for tar in tars:
        table = pq.read_table(tar[: -len(".tar")] + ".parquet")
        rows += table.num_rows
        ok += sum(1 for s in table.column("status").to_pylist() if s in OK_STATUSES)
        if "source_id" not in table.column_names:
            fail(f"{tar}: metadata has no source_id column: {table.column_names}")
    return rows, ok


def main():
    folder, rows_wanted, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tars = sorted(glob.glob(os.path.join(folder, "*.tar")))
    if not tars:
        fail(f"no .tar files in {folder}")
    count = read_tars(tars, side)
    by_wds = read_with_webdataset(tars)
    if by_wds != count:
        fail(f"tarfile found {count} samples, webdataset {by_wds}")
    rows, ok = read_metadata(tars)
    if rows != rows_wanted:
        fail(f"metadata has {rows} rows, the list {rows_wanted}")
    if ok != count:
        fail(f"metadata says {ok} rows succeeded, the tars hold {count} samples")
    print(count)


if __name__ == "__main__":
    main()
