"""The five deployable functions: entry points, kinds and local ports, defined once.

Pulumi builds one Cloud Function (2nd gen) per entry; `beacon dev` serves the HTTP ones on loopback
and runs `load` behind its local queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    module: str  # importable module holding the entry point
    entry_point: str  # the decorated function's name
    kind: Literal["http", "cloudevent"]
    public: bool  # True: unauthenticated HTTPS allowed (authorisation inside the function)
    local_port: int | None  # default port under `beacon dev`; None when not served over HTTP


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("ingest", "functions.ingest.main", "ingest", "http", True, 8080),
    FunctionSpec("load", "functions.load.main", "load", "cloudevent", False, None),
    FunctionSpec("query", "functions.query.main", "query", "http", True, 8081),
    FunctionSpec("rollup", "functions.rollup.main", "rollup", "http", False, 8082),
    FunctionSpec("alerts", "functions.alerts.main", "alerts", "http", False, 8083),
)


def function_named(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(f"no function named {name!r}")
