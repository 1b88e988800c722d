#!/usr/bin/env python3
"""Loopback file server with Range/If-Range support and a rate limit, for
measuring resumed downloads. Binds 127.0.0.1 only.

usage: range_server.py ROOT PORT [--rate KBPS]
  GET /f/NAME      the file, with a strong ETag (size and mtime); a
                   `Range: bytes=N-` whose If-Range matches gets 206
  GET /stats       JSON: body bytes sent since the last /stats (resets)
"""
import json, os, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

ROOT, PORT = sys.argv[1], int(sys.argv[2])
RATE = float(sys.argv[sys.argv.index("--rate") + 1]) * 1024 if "--rate" in sys.argv else 0.0
sent = {"bytes": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                body = json.dumps(sent).encode()
                sent["bytes"] = 0
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = os.path.join(ROOT, os.path.basename(self.path))
        if not self.path.startswith("/f/") or not os.path.isfile(path):
            self.send_error(404)
            return
        st = os.stat(path)
        etag = '"%x-%x"' % (st.st_size, int(st.st_mtime_ns))
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-") and self.headers.get("If-Range") == etag:
            start = min(int(rng[6:-1]), st.st_size)
        length = st.st_size - start
        self.send_response(206 if start else 200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(length))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, st.st_size - 1, st.st_size))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            step = 16384
            t0 = time.monotonic()
            done = 0
            while True:
                chunk = f.read(step)
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except OSError:
                    return
                done += len(chunk)
                with lock:
                    sent["bytes"] += len(chunk)
                if RATE:
                    ahead = done / RATE - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
