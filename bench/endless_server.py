#!/usr/bin/env python3
"""Loopback HTTP server whose every answer is 200, chunked, and endless
(zeros, 64 KiB a chunk, as fast as the client reads). Binds 127.0.0.1.
GET /stats answers (with a length) how many body bytes were sent so far.

usage: endless_server.py PORT
"""
import sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

sent = 0
lock = threading.Lock()
CHUNK = b"%x\r\n" % 65536 + bytes(65536) + b"\r\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        global sent
        if self.path == "/stats":
            body = str(sent).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            while True:
                self.wfile.write(CHUNK)
                with lock:
                    sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
