"""Every command's and group's help, rendered at a fixed width, is a committed snapshot, so a change
of help text is a visible diff (docs/architecture.md#help-text). KMSG_UPDATE_SNAPSHOTS=1 rewrites
them."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from typer.testing import CliRunner

from kmsg_cli.app import app

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "help"


def all_paths() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def render(path: list[str]) -> str:
    runner = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    result = runner.invoke(app, [*path, "--help"], prog_name="kmsg", terminal_width=100)
    assert result.exit_code == 0, path
    return result.stdout


def test_help_matches_the_snapshots() -> None:
    update = os.environ.get("KMSG_UPDATE_SNAPSHOTS") == "1"
    stale = []
    for path in all_paths():
        file = SNAPSHOTS / ("-".join(["kmsg", *path]) + ".txt")
        text = render(path)
        if update:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
        elif not file.exists() or file.read_text(encoding="utf-8") != text:
            stale.append(file.name)
        assert "<str>" not in text and "<int>" not in text and "<list" not in text, path
        assert "-h, --help" in text, path
    assert not stale, f"help changed; review, then KMSG_UPDATE_SNAPSHOTS=1 pytest: {stale}"


def test_kmsg_alone_prints_help_and_exits_0() -> None:
    result = CliRunner().invoke(app, [], prog_name="kmsg")
    assert result.exit_code == 0 and "Commands:" in result.stdout
