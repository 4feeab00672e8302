"""Regenerate the shell completion scripts: python completions/generate.py

The scripts call back into `kmsg` for candidates, so they stay right as commands change;
tests/test_completions.py fails if these files drift from what Typer generates.
"""

from __future__ import annotations

from pathlib import Path

from typer._completion_shared import get_completion_script

HERE = Path(__file__).resolve().parent
FILES = {"bash": "kmsg.bash", "zsh": "_kmsg", "fish": "kmsg.fish"}


def script(shell: str) -> str:
    return (
        get_completion_script(prog_name="kmsg", complete_var="_KMSG_COMPLETE", shell=shell) + "\n"
    )


if __name__ == "__main__":
    for shell, name in FILES.items():
        (HERE / name).write_text(script(shell))
