"""The function source archives: reproducible bytes, and only what the functions need."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from functions.registry import FUNCTIONS, FunctionSpec, function_named
from infra.archive import build_archive, runtime_requirements

INGEST = function_named("ingest")


def names_in(content: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(content)).namelist()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository tree with the clutter a working copy accumulates."""
    files = {
        "functions/__init__.py": "",
        "functions/ingest/main.py": "def ingest(request): ...\n",
        "functions/ingest/__pycache__/main.cpython-311.pyc": "compiled",
        "functions/stale.pyc": "compiled",
        "sql/events/table.sql": "CREATE TABLE events (a INT64);\n",
        "sql/bench/sample_rollups.sql": "SELECT 1;\n",
        "tests/test_ingest.py": "def test(): ...\n",
        ".venv/lib/site.py": "",
        "infra/program.py": "",
        "README.md": "",
        "pyproject.toml": (
            '[project]\nname = "x"\n'
            'dependencies = ["google-cloud-bigquery>=3.20", "duckdb>=1.1", "croniter>=2.0",'
            ' "functions-framework>=3.8", "aiosmtpd>=1.4"]\n'
            '[project.optional-dependencies]\ninfra = ["pulumi>=3"]\ndev = ["pytest>=8"]\n'
        ),
        "requirements.lock": (
            "aiosmtpd==1.4.6\n    # via x (pyproject.toml)\n"
            "atpublic==9.0.0\n    # via aiosmtpd\n"
            "croniter==7.0.0\n    # via x (pyproject.toml)\n"
            "duckdb==2.0.1\n    # via x (pyproject.toml)\n"
            "functions-framework==3.10.2\n    # via x (pyproject.toml)\n"
            "google-cloud-bigquery==3.47.0\n    # via x (pyproject.toml)\n"
            "pulumi==3.272.0\n    # via x (pyproject.toml)\n"
            "pytest==9.2.0\n    # via x (pyproject.toml)\n"
            "python-dateutil==2.9.0\n    # via\n    #   croniter\n    #   google-cloud-bigquery\n"
            "six==1.17.0\n    # via python-dateutil\n"
            "pytz==2026.1\n    # via croniter\n"
            "cffi==2.1.1 ; platform_python_implementation != 'PyPy'\n"
            "    # via functions-framework\n"
        ),
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_building_twice_gives_identical_bytes_and_object_name(repo: Path) -> None:
    first = build_archive(INGEST, repo)
    os.utime(repo / "functions/ingest/main.py", (1_900_000_000, 1_900_000_000))  # touched only
    second = build_archive(INGEST, repo)
    assert first.content == second.content
    assert first.object_name == second.object_name
    assert first.object_name == f"ingest-{first.sha256[:20]}.zip"


def test_changed_code_changes_the_object_name(repo: Path) -> None:
    before = build_archive(INGEST, repo)
    (repo / "functions/ingest/main.py").write_text("def ingest(request): return 'v2'\n")
    assert build_archive(INGEST, repo).object_name != before.object_name


def test_archive_holds_only_functions_product_sql_main_and_requirements(repo: Path) -> None:
    names = names_in(build_archive(INGEST, repo).content)
    assert names == sorted(names)
    assert names == [
        "functions/__init__.py",
        "functions/ingest/main.py",
        "main.py",
        "requirements.txt",
        "sql/events/table.sql",
    ]


def test_entries_carry_fixed_timestamps_and_permissions(repo: Path) -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_archive(INGEST, repo).content))
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in archive.infolist()} == {0o644}


def test_generated_main_reexports_the_functions_entry_point(repo: Path) -> None:
    for spec in FUNCTIONS:
        archive = zipfile.ZipFile(io.BytesIO(build_archive(spec, repo).content))
        main = archive.read("main.py").decode()
        assert f"from {spec.module} import {spec.entry_point}\n" in main
        compile(main, "main.py", "exec")


def test_requirements_pin_the_runtime_dependencies_and_what_they_pull_in_only(
    repo: Path,
) -> None:
    # Not the local-only packages (duckdb, aiosmtpd, croniter) nor what only they need (atpublic,
    # pytz), nor the dev and infra tools; python-dateutil stays, BigQuery's client needs it too.
    assert runtime_requirements(repo).splitlines() == [
        "cffi==2.1.1 ; platform_python_implementation != 'PyPy'",
        "functions-framework==3.10.2",
        "google-cloud-bigquery==3.47.0",
        "python-dateutil==2.9.0",
        "six==1.17.0",
    ]


def test_a_lock_missing_a_runtime_dependency_is_refused(repo: Path) -> None:
    lock = repo / "requirements.lock"
    lock.write_text(lock.read_text().replace("functions-framework==3.10.2", "flask==3.1.3"))
    with pytest.raises(ValueError, match="lacks functions-framework: run make lock"):
        runtime_requirements(repo)


def test_the_real_repository_archive_has_no_tests_or_virtualenv() -> None:
    names = names_in(build_archive(INGEST).content)
    assert "main.py" in names and "requirements.txt" in names
    assert "sql/events/metadata.yaml" in names and "sql/events/table.sql" in names
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"functions", "sql", "main.py", "requirements.txt"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith("sql/bench/")]


LOCAL_ONLY = ("functions.local", "duckdb", "aiosmtpd", "croniter")
IMPORT_FROM_ARCHIVE = """
import importlib.abc, os, sys
BLOCKED = {blocked!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is local-only and must not be imported in the cloud")
        return None

sys.meta_path.insert(0, Blocker())
sys.path.insert(0, {root!r})
os.environ["BEACON_BACKEND"] = "gcp"
import main
import functions
assert functions.__file__.startswith({root!r}), functions.__file__
print("entry point", {entry!r}, callable(getattr(main, {entry!r})))
"""


@pytest.mark.parametrize("spec", FUNCTIONS, ids=[spec.name for spec in FUNCTIONS])
def test_each_entry_point_imports_from_its_archive_with_local_code_blocked(
    spec: FunctionSpec, tmp_path: Path
) -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_archive(spec).content))
    archive.extractall(tmp_path)
    assert not [n for n in archive.namelist() if n.startswith("functions/local/")]
    code = IMPORT_FROM_ARCHIVE.format(
        blocked=LOCAL_ONLY, root=str(tmp_path), entry=spec.entry_point
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"entry point {spec.entry_point} True" in result.stdout


def test_an_import_that_crosses_into_local_code_fails_that_check(tmp_path: Path) -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_archive(INGEST).content))
    archive.extractall(tmp_path)
    (tmp_path / "main.py").write_text("import duckdb\ningest = print\n")
    code = IMPORT_FROM_ARCHIVE.format(blocked=LOCAL_ONLY, root=str(tmp_path), entry="ingest")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "duckdb is local-only" in result.stderr
