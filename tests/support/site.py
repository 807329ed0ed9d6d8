"""A web app's own origin on loopback: fixed HTML pages and the static files of one directory."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def serve_site(directory: Path, pages: Mapping[str, str], strip: str = "") -> Iterator[str]:
    """Serve PAGES (path -> HTML, matched without the query) and DIRECTORY's files, at paths
    with the prefix STRIP removed. Yields the origin, http://127.0.0.1:PORT."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:
            page = pages.get(self.path.split("?")[0].split("#")[0])
            if page is not None:
                data = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.path = self.path.removeprefix(strip)
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_port}"
    finally:
        site.shutdown()
        site.server_close()
