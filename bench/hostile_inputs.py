#!/usr/bin/env python3
"""Writes the hostile inputs bench/hostile.sh measures, into DIR:

  long.txt        a plain list: a.png, one line of LINE_MB MiB of 'a', c.png
  long.csv.gz     a gzipped CSV (path,caption) whose second row's caption is
                  GZ_GB GiB of 'a' (about 1 MB compressed)
  bomb.png        a 1x1 PNG whose iCCP profile inflates to ICC_MB MiB of zeros
                  (about 1 MB compressed at 1 GiB)
  a.png, c.png    small real images the lists name

usage: hostile_inputs.py DIR [LINE_MB=100] [GZ_GB=1] [ICC_MB=1024]
Everything is streamed: the script itself never holds a long line.
"""
import gzip, struct, sys, zlib, os

out = sys.argv[1]
line_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 100
gz_gb = int(sys.argv[3]) if len(sys.argv) > 3 else 1
icc_mb = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
os.makedirs(out, exist_ok=True)
MB = 1 << 20


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(rgb, iccp=None):
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", ihdr)]
    if iccp is not None:
        parts.append(chunk(b"iCCP", b"bomb\0\0" + iccp))
    parts += [chunk(b"IDAT", zlib.compress(bytes([0, *rgb]))), chunk(b"IEND", b"")]
    return b"".join(parts)


for name, rgb in [("a.png", (200, 30, 30)), ("c.png", (30, 30, 200))]:
    with open(os.path.join(out, name), "wb") as f:
        f.write(png(rgb))

block = b"a" * MB
with open(os.path.join(out, "long.txt"), "wb") as f:
    f.write(b"a.png\n")
    for _ in range(line_mb):
        f.write(block)
    f.write(b"\nc.png\n")

with gzip.open(os.path.join(out, "long.csv.gz"), "wb", compresslevel=9) as f:
    f.write(b"path,output,caption\na.png,a.png,x\na.png,b.png,\"")
    for _ in range(gz_gb * 1024):
        f.write(block)
    f.write(b"\"\nc.png,c.png,x\n")

z = zlib.compressobj(9)
zeros = bytes(MB)
icc = b"".join(z.compress(zeros) for _ in range(icc_mb)) + z.flush()
with open(os.path.join(out, "bomb.png"), "wb") as f:
    f.write(png((200, 30, 30), icc))

for name in sorted(os.listdir(out)):
    print(f"{name}\t{os.path.getsize(os.path.join(out, name))}")
