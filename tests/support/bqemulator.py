"""A session-wide BigQuery emulator (bqemulator in .venv-bqemu) and a real client for it.

Test modules register this module as a plugin (pytest_plugins) so that they share one emulator,
and also import PROJECT and client_for from it, before pytest registers it; it holds no asserts,
so PYTEST_DONT_REWRITE tells pytest not to warn that it cannot rewrite them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from functions.local.devserver.serving import stop_process
from tests.support.serve import REPO, free_port, wait_for_http

PROJECT = "beacon-test"
EMULATOR_PYTHON = REPO / ".venv-bqemu" / "bin" / "python"
LAUNCHER = REPO / "scripts" / "bqemulator_launcher.py"


def client_for(url: str, project: str = PROJECT) -> bigquery.Client:
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=url),
    )


@pytest.fixture(scope="session")
def bigquery_endpoints() -> Iterator[tuple[str, str]]:
    """(REST base URL, gRPC host:port) of a running emulator; skips when
    scripts/setup-bqemulator.sh has not run."""
    if not EMULATOR_PYTHON.exists():
        pytest.skip(
            "BigQuery emulator absent: run scripts/setup-bqemulator.sh to create .venv-bqemu"
        )
    port, grpc_port = free_port(), free_port()
    process = subprocess.Popen(
        [str(EMULATOR_PYTHON), str(LAUNCHER), str(port), PROJECT, str(grpc_port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/bigquery/v2/projects/{PROJECT}/datasets", timeout=60, process=process)
        yield url, f"127.0.0.1:{grpc_port}"
    finally:
        stop_process(process, timeout=10)


@pytest.fixture(scope="session")
def bigquery_emulator(bigquery_endpoints: tuple[str, str]) -> str:
    """Base URL of the emulator's REST API."""
    return bigquery_endpoints[0]


@pytest.fixture(scope="session")
def bigquery_write_endpoint(bigquery_endpoints: tuple[str, str]) -> str:
    """host:port of the emulator's gRPC server (the Storage Write API)."""
    return bigquery_endpoints[1]


@pytest.fixture(scope="session")
def bigquery_client(bigquery_emulator: str) -> Iterator[bigquery.Client]:
    client = client_for(bigquery_emulator)
    yield client
    client.close()  # type: ignore[no-untyped-call]
