"""A rate-limiting front for a server that has none: at most one request in flight, and a 429
without Retry-After for any other, as LiteLLM's proxy answers when a key's parallel-request
limit is reached. Everything else is forwarded to the real server unchanged.

    python -m tests.servers.limiter --port 8124 --upstream http://127.0.0.1:8123
"""

from __future__ import annotations

import argparse
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(upstream: str) -> type[BaseHTTPRequestHandler]:
    gate = threading.Semaphore(1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _forward(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
            if method == "POST" and not gate.acquire(blocking=False):
                self._send(
                    429, json.dumps({"error": {"message": "Rate limit exceeded: 1 request at a time"}})
                )
                return
            try:
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
                }
                request = urllib.request.Request(upstream + self.path, body, headers, method=method)
                try:
                    with urllib.request.urlopen(request, timeout=120) as response:
                        self._send(response.status, response.read().decode())
                except urllib.error.HTTPError as exc:
                    self._send(exc.code, exc.read().decode())
            finally:
                if method == "POST":
                    gate.release()

        def _send(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.upstream.rstrip("/"))).serve_forever()


if __name__ == "__main__":
    main()
