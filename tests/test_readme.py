"""The README opens with the two commands that work on a fresh machine; CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_run_and_test_commands() -> None:
    first, second = commands()[:2]
    assert "kmsg send --to" in first and "pip install" in first
    assert "pytest" in second and "[test]" in second


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands()[1] in ci


def test_readme_documents_every_exit_code() -> None:
    text = (ROOT / "README.md").read_text()
    for code in (0, 1, 2, 65, 66, 69, 74, 75, 77, 78, 130):
        assert f"| {code} |" in text
