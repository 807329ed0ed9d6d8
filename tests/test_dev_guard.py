"""`beacon dev`'s job servers (rollup, alerts) refuse web pages: foreign Host (DNS rebinding),
foreign Origin (cross-site fetch), no token. Its own commands pass, with the run's token."""

from __future__ import annotations

import http.client
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions import runtime
from functions.local.devserver.guard import (
    JOB_TOKEN_HEADER,
    is_loopback_host,
    job_headers,
    new_job_token,
    read_job_token,
    token_path,
)
from functions.local.devserver.jobs_client import call_function
from functions.local.devserver.serving import InProcessServer
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.settings import Settings

EXPORT = "/v1/jobs/gdpr/export"


@pytest.fixture
def rollup(tmp_path: Path, port: int) -> Iterator[tuple[str, str, Settings]]:
    """The rollup function served as `beacon dev` serves it, with a fresh token."""
    settings = Settings(data_dir=tmp_path)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    warehouse.ensure_tables()
    runtime.reset()
    runtime.use_settings(settings)
    runtime.use_warehouse(warehouse)
    token = new_job_token(tmp_path)
    server = InProcessServer("rollup", port, job_token=token)
    server.start()
    try:
        yield server.url, token, settings
    finally:
        server.stop()
        runtime.reset()
        warehouse.close()


def raw_post(url: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """POST with exactly these headers (requests would set Host itself)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps({"user_id": "victim"})
    connection.request(
        "POST", path, body=body, headers={"Content-Type": "application/json", **headers}
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def test_the_token_file_is_new_each_run_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = new_job_token(tmp_path)
    second = new_job_token(tmp_path)
    assert first != second and read_job_token(tmp_path) == second
    assert stat.S_IMODE(os.stat(token_path(tmp_path)).st_mode) == 0o600


def test_a_request_with_the_token_from_this_machine_is_served(rollup) -> None:
    url, token, _ = rollup
    status, answer = raw_post(
        url, EXPORT, {"Host": url.removeprefix("http://"), JOB_TOKEN_HEADER: token}
    )
    assert status == 200
    assert answer["events"] == []


def test_a_request_without_the_token_is_refused(rollup) -> None:
    url, _, _ = rollup
    status, answer = raw_post(url, EXPORT, {"Host": url.removeprefix("http://")})
    assert status == 403
    assert JOB_TOKEN_HEADER in answer["message"]


def test_a_foreign_host_header_is_refused_even_with_the_token(rollup) -> None:
    url, token, _ = rollup
    # DNS rebinding: the page's own name now resolves to 127.0.0.1, and the browser says so.
    status, answer = raw_post(url, EXPORT, {"Host": "evil.example:8082", JOB_TOKEN_HEADER: token})
    assert status == 403
    assert "Host" in answer["message"]


def test_a_cross_site_fetch_is_refused_even_with_the_token(rollup) -> None:
    url, token, _ = rollup
    headers = {
        "Host": url.removeprefix("http://"),
        "Origin": "https://evil.example",
        JOB_TOKEN_HEADER: token,
    }
    status, answer = raw_post(url, EXPORT, headers)
    assert status == 403
    assert "origin" in answer["message"]


def test_beacon_gdpr_and_jobs_send_the_runs_token(rollup, monkeypatch) -> None:
    url, _, settings = rollup
    monkeypatch.setenv("BEACON_ROLLUP_PORT", url.rsplit(":", 1)[1])
    outcome = call_function("rollup", EXPORT, {"user_id": "u"}, settings, os.environ)
    assert outcome.how == "http" and outcome.status == 200


def test_without_a_token_file_the_servers_commands_are_refused(rollup) -> None:
    url, _, settings = rollup
    token_path(settings.data_dir).unlink()
    assert job_headers(settings.data_dir) == {}
    response = requests.post(url + EXPORT, json={"user_id": "u"}, timeout=10)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:8082", True),
        ("localhost:8082", True),
        ("LOCALHOST", True),
        ("[::1]:8082", True),
        ("127.1.2.3", True),
        ("evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
