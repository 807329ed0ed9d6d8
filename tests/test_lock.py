"""requirements.lock is what `make test` installs and what every function archive pins: the lock
agrees with pyproject.toml, the test venv holds exactly its versions, and the archives take their
requirements from it."""

from __future__ import annotations

import importlib.metadata
import tomllib

from packaging.markers import Marker
from packaging.requirements import Requirement

from infra.archive import locked_requirements, runtime_requirements
from tests.support.serve import REPO

LOCK = REPO / "requirements.lock"


def pins() -> dict[str, tuple[str, Marker | None]]:
    """{name: (version, marker)} of every locked package."""
    found = {}
    for name, (line, _) in locked_requirements(LOCK).items():
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        found[name] = (specifier.version, requirement.marker)
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [dep for deps in project["optional-dependencies"].values() for dep in deps]
    return [Requirement(dep) for dep in project["dependencies"] + extras]


def test_every_declared_dependency_is_locked_at_a_version_pyproject_allows() -> None:
    locked = pins()
    for requirement in declared():
        if requirement.name == "beacon-analytics":  # the project's own extras
            continue
        key = requirement.name.lower().replace("_", "-")
        assert key in locked, f"{requirement.name} is not in requirements.lock: run make lock"
        version, _ = locked[key]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {key}=={version}, which pyproject.toml's "
            f"{requirement} refuses: run make lock"
        )


def test_the_test_environment_holds_exactly_the_locked_versions() -> None:
    wrong = {}
    for name, (version, marker) in pins().items():
        if marker is not None and not marker.evaluate():
            continue
        installed = importlib.metadata.version(name)
        if installed != version:
            wrong[name] = (installed, version)
    assert wrong == {}, "installed != locked; `make install` installs the lock"


def test_archives_pin_the_locked_versions_of_what_the_functions_import() -> None:
    lines = runtime_requirements(REPO).splitlines()
    locked = {line for line, _ in locked_requirements(LOCK).values()}
    assert set(lines) <= locked
    names = {Requirement(line).name for line in lines}
    assert {"google-cloud-bigquery", "google-cloud-bigquery-storage", "protobuf"} <= names
    assert not names & {"duckdb", "aiosmtpd", "croniter", "pytest", "pulumi", "uv"}


def test_the_lock_names_the_command_that_made_it() -> None:
    header = LOCK.read_text(encoding="utf-8").splitlines()[1]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    command = header.removeprefix("#    ")
    assert command.startswith("uv pip compile pyproject.toml ")
    assert command.replace(" -o requirements.lock", "") in makefile.replace(
        " --upgrade -o $(LOCK)", ""
    ).replace("$(BIN)/", "")
