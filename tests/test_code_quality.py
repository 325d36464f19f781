"""ruff, mypy and the README's CLI help are part of the suite, so CI holds them to the same bar as behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow  # mypy alone takes tens of seconds


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
        [sys.executable, "scripts/readme_help.py", "--check"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "readme-help"],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
