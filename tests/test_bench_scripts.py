"""Every benchmark starts as its docstring says (the suite does not run them: they take
minutes and want a quiet machine); a refactor of a shared helper must not break one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    path.name for path in (ROOT / "bench").glob("*.py")
    if path.name not in {"__init__.py", "harness.py", "rounds.py", "app.py"}
    and "__main__" in path.read_text()
)


def command(name: str) -> list[str]:
    if "python -m bench." in (ROOT / "bench" / name).read_text():
        return [sys.executable, "-m", f"bench.{name.removesuffix('.py')}", "--help"]
    return [sys.executable, str(ROOT / "bench" / name), "--help"]


def test_every_benchmark_is_listed():
    assert {"run.py", "gateway.py", "multihost.py", "instructions.py", "flush_scale.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_benchmark_imports_and_answers_help(name: str):
    result = subprocess.run(command(name), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
