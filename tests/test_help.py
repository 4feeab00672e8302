"""Every command has help with an example, and every global option works on every command."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from kmsg_cli.app import app
from kmsg_cli.commands._common import GLOBAL_OPTIONS


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


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    commands = leaf_commands()
    assert ["send"] in commands and ["config", "init"] in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example: kmsg " in result.stdout, f"{' '.join(path)} --help has no example"
        for option in ("--json", "--quiet", "--config", "--db", "--no-color", "--show-recipients"):
            assert option in result.stdout, f"{' '.join(path)} lacks {option}"
    assert len(GLOBAL_OPTIONS) == 7


def test_root_help_lists_exit_codes_and_version() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert "78 configuration" in " ".join(result.stdout.split())
    assert runner.invoke(app, ["--version"]).stdout.startswith("kmsg ")
