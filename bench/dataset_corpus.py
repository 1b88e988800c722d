#!/usr/bin/env python3
"""Makes a web-sized image corpus and a URL list for bench/dataset.sh.

usage: dataset_corpus.py PHOTOS DIR N PORT

From the photos in PHOTOS (JPEG/PNG, any size) it writes VARIANTS distinct
web-sized images into DIR/files (random crops of aspect 0.5-2, longest side
300-1600 px, JPEG q85, one in ten PNG, as web pages serve them), then links
them under N names (u00000.jpg, ...) so every URL is a different path, and
writes DIR/list.csv with the columns url, caption, source_id (the last one
is there to check that extra columns pass through). One row in 50 points at
a URL that answers 404, so both tools also have failures to record.
The corpus is the same for the same arguments (fixed random seed).
"""
import csv, os, random, sys
from PIL import Image

VARIANTS = 240
WORDS = ("a photo of a bridge over calm water; dragonfly on a leaf; sea at dusk; "
         "painted colours; mountain road; city lights; bird on a branch; "
         "field of flowers; forest path; old house").split(";")


def load(photos):
    names = sorted(n for n in os.listdir(photos) if n.lower().endswith((".jpg", ".jpeg", ".png")))
    if not names:
        sys.exit(f"error: no JPEG or PNG photos in {photos}")
    return [os.path.join(photos, n) for n in names]


def open_photo(src):
    with Image.open(src) as im:
        im.draft("RGB", (3200, 3200))  # JPEG: decode at a reduced scale, much faster
        return im.convert("RGB")


def variant(im, rng):
    w, h = im.size
    aspect = rng.uniform(0.5, 2.0)
    cw, ch = (w, int(w / aspect)) if w / aspect <= h else (int(h * aspect), h)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    im = im.crop((x, y, x + cw, y + ch))
    side = rng.randint(300, 1600)
    scale = side / max(cw, ch)
    return im.resize((max(1, round(cw * scale)), max(1, round(ch * scale))), Image.LANCZOS)


def main():
    photos, out, n, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(13)
    files = os.path.join(out, "files")
    os.makedirs(files, exist_ok=True)
    sources = load(photos)
    made = []
    photos_in_memory = {}
    for i in range(VARIANTS):
        src = sources[i * len(sources) // VARIANTS]
        if src not in photos_in_memory:
            photos_in_memory.clear()  # one decoded photo at a time
            photos_in_memory[src] = open_photo(src)
        im = variant(photos_in_memory[src], rng)
        ext = "png" if i % 10 == 9 else "jpg"
        name = f"v{i:04}.{ext}"
        im.save(os.path.join(files, name), quality=85) if ext == "jpg" else im.save(os.path.join(files, name))
        made.append(name)
    with open(os.path.join(out, "list.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["url", "caption", "source_id"])
        for i in range(n):
            base = made[i % len(made)]
            name = f"u{i:05}.{base.rsplit('.', 1)[1]}"
            link = os.path.join(files, name)
            if not os.path.exists(link):
                os.link(os.path.join(files, base), link)
            path = f"/status/404/{name}" if i % 50 == 49 else f"/f/{name}"
            w.writerow([f"http://127.0.0.1:{port}{path}", f"{WORDS[i % len(WORDS)].strip()} #{i}", f"src-{i:05}"])
    total = sum(os.path.getsize(os.path.join(files, m)) for m in made)
    print(f"{VARIANTS} distinct images ({total // VARIANTS // 1024} KB average) as {n} URLs in {out}/list.csv")


if __name__ == "__main__":
    main()
