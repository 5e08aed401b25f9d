"""`gitcoord dashboard --serve [PORT]`: the dashboard over HTTP, regenerated on each load.

The standard library's `http.server`, bound to 127.0.0.1 only: the page shows the team's
work, so it is never offered to the network; a lead leaves it open and reloads. One request
at a time (the page is built in well under a second, and a Coordinator is not shared between
threads). Example::

    from gitcoord.dashboard_serve import serve
    serve(lambda: "<html>...</html>", 8765, print)   # blocks until Ctrl-C
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer

from gitcoord.errors import GitcoordError, InvalidInput

HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def serve(page: Callable[[], str], port: int, announce: Callable[[str], None]) -> None:
    """Serve `page()` at http://127.0.0.1:PORT/ until interrupted; port 0 picks a free one."""
    if not 0 <= port <= 65535:
        raise InvalidInput(f"--serve takes a port from 0 to 65535, not {port}.")
    try:
        server = HTTPServer((HOST, port), _handler(page))
    except OSError as exc:
        raise InvalidInput(
            f"cannot serve on {HOST}:{port}: {exc.strerror or exc}.",
            hint=f"choose another port: gitcoord dashboard --serve {port + 1 if port else DEFAULT_PORT}",
        ) from exc
    with server:
        bound = server.server_address[1]
        announce(f"serving the dashboard at http://{HOST}:{bound}/ (rebuilt on each load; Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def _handler(page: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "gitcoord"

        def do_GET(self) -> None:
            if not _local_host(self.headers.get("Host", "")):
                self._send(403, "text/plain", b"forbidden: open the dashboard at http://127.0.0.1/\n")
                return
            if self.path.split("?", 1)[0] not in ("/", "/index.html"):
                self._send(404, "text/plain", b"not found: the dashboard is at /\n")
                return
            try:
                body = page().encode("utf-8")
            except GitcoordError as exc:  # the repository moved or broke: say so, keep serving
                text = f"<!DOCTYPE html><p>gitcoord could not build the page: {html.escape(str(exc))}</p>"
                self._send(503, "text/html; charset=utf-8", text.encode("utf-8"))
                return
            self._send(200, "text/html; charset=utf-8", body)

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per reload would drown the announcement

    return Handler


def _local_host(host: str) -> bool:
    """Whether a request's Host header names this machine's loopback. Another site's page can
    point its own name at 127.0.0.1 (DNS rebinding); its requests carry its name, and are refused."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in (HOST, "localhost", "[::1]")
