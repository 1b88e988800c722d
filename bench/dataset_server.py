#!/usr/bin/env python3
"""The dataset benchmark's loopback web server: files held in memory, served
after an added latency, on every 127.0.0.0/8 address so a list can spread
its rows over many host names as a real list spreads over many sites.

Why not slow_server.py: on a 2-core machine the server shares the cores
with the tool it serves, so its CPU time is charged to any tool that keeps
both cores busy (a real site's CPU is not on the client's machine). Python's
http.server costs about 0.3 ms of CPU a request (a thread per connection,
headers parsed by the email package, a file read per request); this one
answers from one asyncio loop with the files read once, about half of that
(1.6 vs 3.1 CPU-s serving pixmill's 10,000-row run).
Both tools of a run meet the same server, and bench/dataset.sh reports the
CPU it spent serving each one.

It binds the wildcard address and drops every connection that does not come
from 127.0.0.0/8, so nothing off the machine is ever served.

usage: dataset_server.py FILES_DIR PORT [--latency MS]
Paths (a query string is ignored):
  /f/NAME            FILES_DIR/NAME, after the latency
  /status/CODE/NAME  replies CODE with a small body, after the latency
"""
import asyncio
import ipaddress
import os
import socket
import sys

ROOT, PORT = sys.argv[1], int(sys.argv[2])
LAT = float(sys.argv[sys.argv.index("--latency") + 1]) / 1000 if "--latency" in sys.argv else 0.0
FILES = {}
for name in os.listdir(ROOT):
    with open(os.path.join(ROOT, name), "rb") as f:
        FILES[name] = f.read()
REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


def reply(code, body, keep_alive, head_only):
    head = (
        f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + (b"" if head_only else body)


def answer(target):
    parts = target.split("?", 1)[0].strip("/").split("/")
    if len(parts) == 2 and parts[0] == "f" and parts[1] in FILES:
        return 200, FILES[parts[1]]
    if len(parts) >= 2 and parts[0] == "status" and parts[1].isdigit():
        return int(parts[1]), b"error\n"
    return 404, b"error\n"


class Http(asyncio.Protocol):
    """One connection: requests parsed as they arrive (clients do not
    pipeline, but a request split over reads is joined), each answered
    LAT seconds later by a timer, not a coroutine or thread per request."""

    def connection_made(self, transport):
        self.transport, self.buf, self.closing = transport, b"", False
        peer = transport.get_extra_info("peername")
        if not peer or not ipaddress.ip_address(peer[0]).is_loopback:
            transport.abort()
            return
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        while not self.closing:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.transport.abort()
                return
            head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4 :]
            lines = head.split("\r\n")
            method, target, version = (lines[0].split(" ") + ["", "", ""])[:3]
            close = version != "HTTP/1.1" or any(
                l.lower().replace(" ", "") == "connection:close" for l in lines[1:]
            )
            self.closing = close
            code, body = answer(target)
            data = reply(code, body, not close, method == "HEAD")
            asyncio.get_running_loop().call_later(LAT, self.send, data, close)

    def send(self, data, close):
        if self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "0.0.0.0", PORT, backlog=1024, reuse_address=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
