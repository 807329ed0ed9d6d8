"""Start the BigQuery emulator (bqemulator 1.4.0) offline, on the REST and gRPC ports given.

Run with .venv-bqemu's Python (scripts/setup-bqemulator.sh makes it):
    .venv-bqemu/bin/python scripts/bqemulator_launcher.py PORT [PROJECT [GRPC_PORT]]
The gRPC port serves the Storage Write API (AppendRows); 0, the default, picks any free one.
bqemulator loads DuckDB's spatial extension at start-up, which means a download; offline that
fails and stops the server. Beacon has no GEOGRAPHY columns, so the loader becomes a no-op.
"""

from __future__ import annotations

import sys


def _serialize_grpc_appends_with_rest() -> None:
    """bqemulator serves REST on its event loop and gRPC appends on a thread pool, both on one
    DuckDB connection, with no lock in common: a query that meets an append fails ("closed
    pending query result") or hangs. One re-entrant lock, held by each REST request (all on the
    loop's thread, so they never wait for each other) and by each append, keeps them apart."""
    import threading

    import bqemulator.server as server
    from bqemulator.grpc_api.write_servicer import BigQueryWriteHandler

    lock = threading.RLock()
    create_app = server.create_app

    def create_serialized_app(context: object) -> object:
        app = create_app(context)  # type: ignore[arg-type]

        @app.middleware("http")
        async def one_connection_user(request: object, call_next: object) -> object:
            with lock:
                return await call_next(request)  # type: ignore[operator]

        return app

    flush = BigQueryWriteHandler._flush_to_target

    def serialized_flush(self: object, stream: object, rows: object) -> None:
        with lock:
            flush(self, stream, rows)  # type: ignore[arg-type]

    server.create_app = create_serialized_app  # type: ignore[assignment]
    BigQueryWriteHandler._flush_to_target = serialized_flush  # type: ignore[method-assign,assignment]


def _bind_no_parameters_in_comments() -> None:
    """bqemulator binds every @name of the SQL text, comments included: a file whose header says
    "@since reaches back..." gets one value too many and DuckDB refuses the query. BigQuery
    ignores comments, so the emulator is given SQL without them before it binds."""
    import re

    from bqemulator.sql import parameters

    comments = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
    bind_named = parameters._bind_named

    def bind_named_outside_comments(sql: str, params: list[dict[str, object]]) -> object:
        return bind_named(comments.sub(" ", sql), params)

    parameters._bind_named = bind_named_outside_comments  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    if len(argv) < 1:
        raise SystemExit("usage: bqemulator_launcher.py PORT [PROJECT [GRPC_PORT]]")
    port, project = argv[0], (argv[1] if len(argv) > 1 else "beacon-test")
    grpc_port = argv[2] if len(argv) > 2 else "0"

    from bqemulator.storage.engine import DuckDBEngine

    def _no_spatial(self: object) -> None:
        return None

    DuckDBEngine._load_spatial = _no_spatial  # type: ignore[method-assign]
    _serialize_grpc_appends_with_rest()
    _bind_no_parameters_in_comments()

    from bqemulator.cli import main as cli

    cli(
        [
            "start",
            "--rest-host=127.0.0.1",
            f"--rest-port={port}",
            "--grpc-host=127.0.0.1",
            f"--grpc-port={grpc_port}",
            "--ephemeral",
            f"--project={project}",
            "--log-level=warning",
        ]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
