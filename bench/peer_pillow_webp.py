#!/usr/bin/env python3
"""Peer baseline: the same recipe as peer_pillow.py (ProcessPoolExecutor +
Pillow), writing WebP instead of JPEG. peer_pillow.py stays as it was.
Usage: peer_pillow_webp.py SRC DST SIZE [QUALITY=80] [JOBS]"""
import os, sys
from concurrent.futures import ProcessPoolExecutor
from PIL import Image, ImageOps

def one(args):
    src, dst, size, quality = args
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im)
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        im.convert("RGB").save(dst, "WEBP", quality=quality)
    return dst

if __name__ == "__main__":
    src, dst, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    quality = int(sys.argv[4]) if len(sys.argv) > 4 else 80
    jobs = int(sys.argv[5]) if len(sys.argv) > 5 else os.cpu_count()
    os.makedirs(dst, exist_ok=True)
    work = [(os.path.join(src, f), os.path.join(dst, os.path.splitext(f)[0] + ".webp"), size, quality)
            for f in sorted(os.listdir(src))]
    with ProcessPoolExecutor(jobs) as ex:
        n = sum(1 for _ in ex.map(one, work, chunksize=1))
    print(n, "images")
