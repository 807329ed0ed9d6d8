"""User-agent parsing: uap-core (ua-parser, with ua-parser-rs) against the hand-written rules it
replaced, in one run (`.venv/bin/python bench/useragent.py`).

The baseline is functions/load/useragent.py as it was at BASELINE_COMMIT, read from git. Printed
for both: the first call (a cold start: uap-core loads its rules then), microseconds to parse an
agent not seen before (cache cleared), and per event on the load path, where the per-agent cache
answers (100,000 demo events).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from functions.load import useragent  # noqa: E402
from functions.local.devserver.demo import BOT_AGENTS, WEB_AGENTS, generate_events  # noqa: E402

BASELINE_COMMIT = "354f035"  # the last commit with the hand-written rules


def baseline() -> Any:
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:functions/load/useragent.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "useragent_rules.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("useragent_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def cold_us(parse: Any, agents: list[str], rounds: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        parse.cache_clear()
        for agent in agents:
            parse(agent)
    return (time.perf_counter() - started) / (rounds * len(agents)) * 1e6


def warm_us(parse: Callable[[str], Any], agents: list[str]) -> float:
    started = time.perf_counter()
    for agent in agents:
        parse(agent)
    return (time.perf_counter() - started) / len(agents) * 1e6


def main() -> int:
    old = baseline().parse_user_agent
    new = useragent.parse_user_agent
    distinct = sorted(set(WEB_AGENTS) | set(BOT_AGENTS))
    events = generate_events(
        100_000, seed=5, now=__import__("datetime").datetime.now().astimezone()
    )
    stream = [e["context"]["user_agent"] for e in events if e.get("context", {}).get("user_agent")]
    for name, parse in (("hand-written rules (baseline)", old), ("uap-core + crawler list", new)):
        started = time.perf_counter()
        parse("Mozilla/5.0 (warm-up)")  # uap-core loads its rules on first use
        first_ms = (time.perf_counter() - started) * 1e3
        cold = cold_us(parse, distinct)
        parse.cache_clear()
        warm = warm_us(parse, stream)
        print(
            f"{name:31} first call {first_ms:6.1f} ms | new agent {cold:6.1f} us"
            f" | per event, cached {warm:5.2f} us"
            f"  ({len(distinct)} distinct agents, {len(stream):,} events)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
