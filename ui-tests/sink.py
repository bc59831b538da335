#!/usr/bin/env python3
"""The HTTP endpoint the UI tests' topics and subscriptions deliver to (started by
scripts/ui-tests.sh): /ok answers 200, /gone 410 (a dead letter at once), anything else 500."""
import http.server
import sys

STATUS = {"/ok": 200, "/gone": 410}


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.send_response(STATUS.get(self.path.split("?")[0], 500))
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
server.daemon_threads = True
server.serve_forever()
