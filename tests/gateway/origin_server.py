"""A small real origin for the gateway's tests: Python's http.server serving a folder, plus a
few paths that answer what a test needs to see.

    /echo     (any method) JSON: the method, path, query, headers received, and the body's
              length and SHA-256 (the body streamed in, never held whole)
    /fail     500 with a body
    /slow     waits 5 s before answering (a gateway timeout)
    /moved    301 to /index.html
    /truncated  200 announcing 1000 bytes, then 10 and the connection closed
    anything else: the folder's files (404 if absent), HEAD included

Run as `python -m tests.gateway.origin_server PORT FOLDER`; it prints "ready" when listening.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


class OriginHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real site

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read the answers
        pass

    def _special(self) -> bool:
        path = self.path.split("?", 1)[0]
        if path == "/echo":
            self._echo()
        elif path == "/fail":
            self._reply(500, b"origin exploded\n", "text/plain")
        elif path == "/slow":
            time.sleep(5)
            self._reply(200, b"late\n", "text/plain")
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/index.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            return False
        return True

    def _echo(self) -> None:
        digest, size = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                length = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if length == 0:
                    self.rfile.readline()
                    break
                data = self.rfile.read(length)
                digest.update(data)
                size += len(data)
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                data = self.rfile.read(min(CHUNK, remaining))
                digest.update(data)
                size += len(data)
                remaining -= len(data)
        body = json.dumps({
            "method": self.command,
            "path": self.path,
            "headers": [[name.lower(), value] for name, value in self.headers.items()],
            "body_length": size,
            "body_sha256": digest.hexdigest(),
        }).encode()
        self._reply(200, body, "application/json")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        if not self._special():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._special():
            super().do_HEAD()

    def do_POST(self) -> None:
        if not self._special():
            self._reply(405, b"", "text/plain")

    do_PUT = do_POST


def main() -> None:
    port, folder = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(OriginHandler, directory=folder))
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
