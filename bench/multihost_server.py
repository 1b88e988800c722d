#!/usr/bin/env python3
"""slow_server.py (beside this file) answering on every 127.0.0.0/8 address, so
a list can spread its rows over many host names (127.0.0.1, 127.0.0.2, ...)
as a real dataset list spreads over many sites: per-host limits, DNS and
connection reuse then behave as they do on the web.

Linux routes all of 127.0.0.0/8 to the loopback interface, but a socket
bound to 127.0.0.1 answers that address only; this one binds the wildcard
address and refuses every connection that does not come from 127.0.0.0/8,
so nothing off the machine is ever served.

usage: multihost_server.py FILES_DIR PORT [slow_server.py options]
"""
import http.server
import ipaddress
import os
import runpy
import sys

SLOW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow_server.py")


class LoopbackOnly(http.server.ThreadingHTTPServer):
    def __init__(self, address, handler, *args, **kwargs):
        super().__init__(("0.0.0.0", address[1]), handler, *args, **kwargs)

    def verify_request(self, request, client_address):
        return ipaddress.ip_address(client_address[0]).is_loopback


http.server.ThreadingHTTPServer = LoopbackOnly
sys.argv = [SLOW] + sys.argv[1:]
runpy.run_path(SLOW, run_name="__main__")
