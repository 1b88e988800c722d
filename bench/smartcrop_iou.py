#!/usr/bin/env python3
"""Where pixmill's --crop attention/entropy windows and libvips's
--smartcrop windows agree, as intersection over union.

For each image of CORPUS (every one whose aspect ratio differs from the
square output), pixmill reports its window in its --json record. libvips
reports none, so its window is found the way vipsthumbnail makes it: the
image shrunk to cover the box (`vips thumbnail --size both`, no crop), then
`vips smartcrop`, whose output is an exact pixel copy of one window of the
shrunk image; the offset is found by matching rows exactly.

usage: smartcrop_iou.py PIXMILL CORPUS SIZE MODE [SCRATCH]
prints one line per image and a summary (mean, median, share >= 0.5).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

from PIL import Image


def vips_window(path, size, mode, scratch):
    """(x, y, w, h) of vips's window, in the input's pixels (as displayed)."""
    shrunk = os.path.join(scratch, "shrunk.png")
    crop = os.path.join(scratch, "crop.png")
    # Cover the box: the shorter side meets SIZE (vips thumbnail's
    # --size both with a box the longer side never reaches).
    full = Image.open(path)
    w, h = full.size
    orientation = full.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    if w >= h:
        box = f"{10 * size * w // h + 1}x{size}"
    else:
        box = f"{size}x{10 * size * h // w + 1}"
    subprocess.run(["vipsthumbnail", path, "-s", box, "-o", shrunk],
                   check=True, capture_output=True)
    subprocess.run(["vips", "smartcrop", shrunk, crop, str(size), str(size),
                    "--interesting", mode], check=True, capture_output=True)
    s = Image.open(shrunk).convert("RGB")
    c = Image.open(crop).convert("RGB")
    sw, sh = s.size
    cw, ch = c.size
    rows = [c.crop((0, r, cw, r + 1)).tobytes() for r in (0, ch // 2, ch - 1)]
    for y in range(sh - ch + 1):
        for x in range(sw - cw + 1):
            if s.crop((x, y, x + cw, y + 1)).tobytes() != rows[0]:
                continue
            if all(s.crop((x, y + r, x + cw, y + r + 1)).tobytes() == row
                   for r, row in zip((ch // 2, ch - 1), rows[1:])):
                fx, fy = w / sw, h / sh
                return (x * fx, y * fy, cw * fx, ch * fy)
    raise RuntimeError(f"{path}: vips's crop not found in its shrunk image")


def pixmill_window(pixmill, path, size, mode, scratch):
    out = subprocess.run(
        [pixmill, "convert", path, "-o", os.path.join(scratch, "px"),
         "--resize", f"{size}x{size}", "--fit", "cover", "--crop", mode,
         "--json", "-q", "--on-exists", "overwrite"],
        check=True, capture_output=True, text=True).stdout
    c = json.loads(out.splitlines()[0])["crop"]
    return (c["x"], c["y"], c["width"], c["height"])


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def main():
    pixmill, corpus, size, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    scratch = sys.argv[5] if len(sys.argv) > 5 else tempfile.mkdtemp()
    os.makedirs(scratch, exist_ok=True)
    scores = []
    for name in sorted(os.listdir(corpus)):
        path = os.path.join(corpus, name)
        try:
            w, h = Image.open(path).size
        except Exception:
            continue
        if w == h:
            continue
        v = vips_window(path, size, mode, scratch)
        p = pixmill_window(pixmill, path, size, mode, scratch)
        score = iou(v, p)
        scores.append(score)
        print(f"{name}\t{w}x{h}\tvips x={v[0]:.0f} y={v[1]:.0f}\t"
              f"pixmill x={p[0]} y={p[1]}\tIoU {score:.2f}")
    print(f"# {mode}: {len(scores)} images, IoU mean {statistics.mean(scores):.2f}, "
          f"median {statistics.median(scores):.2f}, "
          f">= 0.5 in {sum(s >= 0.5 for s in scores)}/{len(scores)}, "
          f">= 0.9 in {sum(s >= 0.9 for s in scores)}/{len(scores)}")


if __name__ == "__main__":
    main()
