"""Every command has help with an example, and every global option works on every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kmsg_cli.app import app
from kmsg_cli.commands._common import GLOBAL_OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def leaf_commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(root, [])
    return found


def test_every_command_has_help_with_examples() -> None:
    runner = CliRunner()
    commands = leaf_commands()
    assert ["send"] in commands and ["config", "init"] in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert 2 <= len(examples(result.stdout)) <= 4, f"{' '.join(path)} --help: 2-4 examples"
        for option in ("--json", "--quiet", "--config", "--db", "--no-color", "--show-recipients"):
            assert option in result.stdout, f"{' '.join(path)} lacks {option}"
    assert len(GLOBAL_OPTIONS) == 7


def test_root_help_lists_exit_codes_and_version() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert "78 configuration" in " ".join(result.stdout.split())
    assert runner.invoke(app, ["--version"]).stdout.startswith("kmsg ")


def examples(help_text: str) -> list[str]:
    """The example lines of a help text: after "Examples:", each starting with kmsg (or piping
    into it), up to the next blank line that follows them."""
    lines = help_text.split("Examples:\n", 1)[1].splitlines() if "Examples:" in help_text else []
    found = []
    for line in lines[1:]:
        if not line.strip():
            if found:
                break
            continue
        assert line.startswith("    ") and "kmsg " in line, line
        found.append(line.strip())
    return found


def all_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return found


def test_every_group_and_the_root_have_examples_too() -> None:
    runner = CliRunner()
    groups = [p for p in all_paths() if p not in leaf_commands()]
    assert [] in groups and ["queue"] in groups
    for path in groups:
        text = runner.invoke(app, [*path, "--help"]).stdout
        assert 2 <= len(examples(text)) <= 4, f"kmsg {' '.join(path)} --help: 2-4 examples"


def test_command_lists_are_never_cut_mid_sentence_at_80_columns() -> None:
    runner = CliRunner(env={"COLUMNS": "80"})
    for path in all_paths():
        if path in leaf_commands():
            continue
        text = runner.invoke(app, [*path, "--help"], terminal_width=80).stdout
        listing = text.split("Commands:\n", 1)[1]
        for line in listing.splitlines():
            assert not line.rstrip().endswith("..."), f"kmsg {' '.join(path)}: {line.strip()}"
            assert line.rstrip().endswith("."), f"not a sentence: {line.strip()}"


@pytest.mark.parametrize("args", [["--help"], ["queue"], ["status", "--help"], ["--version"]])
def test_help_into_a_closed_pipe_exits_0_quietly(args: list[str]) -> None:
    """`kmsg --help | head -1`: the reader has gone before kmsg writes (the worst case)."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kmsg_cli", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, b"")
