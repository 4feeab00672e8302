"""Composition root: ``main``, the console script.

``kmsg --version`` is answered here before typer, pydantic or any command is imported; everything
else goes to the Typer app in ``cli.py`` (global options, the sub-commands), imported on first use.
``from kmsg_cli.app import app`` still gives that app.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from kmsg_cli import __version__

if TYPE_CHECKING:
    from kmsg_cli.cli import app as app  # the re-export __getattr__ makes at run time

# argument lists the Typer app answers with the version line and nothing else
_VERSION_ONLY = (["--version"], ["--version", "--json"], ["--json", "--version"])


def __getattr__(name: str) -> Any:
    if name == "app":
        from kmsg_cli import cli

        return getattr(cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def version_text(as_json: bool) -> str:
    """``kmsg --version``; with --json the one document (SCHEMA_VERSION of output.py, which is
    not imported here: this path loads no more than this module)."""
    if as_json:
        doc = {"schema_version": 1, "ok": True, "version": __version__, "warnings": []}
        return json.dumps(doc) + "\n"
    return f"kmsg {__version__}\n"


def main() -> None:
    """Console script. With --json, usage errors are a JSON document too (CLI-5)."""
    argv = sys.argv[1:]
    if argv in _VERSION_ONLY:
        try:
            sys.stdout.write(version_text("--json" in argv))
            sys.stdout.flush()
        except BrokenPipeError:  # `kmsg --version | true`: nobody left to read it
            _discard_stdout()
        return
    try:
        _run(argv)
    except SystemExit as exc:
        from typer._click.utils import PacifyFlushWrapper

        # click's answer to a reader that went away while it printed (`kmsg --help | head -1`):
        # stdout swapped for this wrapper, then exit 1. The reader has what it wanted: exit 0.
        if exc.code == 1 and isinstance(sys.stdout, PacifyFlushWrapper):
            _discard_stdout()
            sys.exit(0)
        raise


def _discard_stdout() -> None:
    """Later writes, and the interpreter's flush at exit, go to /dev/null quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _run(argv: list[str]) -> None:
    import typer

    from kmsg_cli.cli import app
    from kmsg_cli.output import SCHEMA_VERSION

    if "--json" not in argv:
        app(prog_name="kmsg")
        return
    from typer._click.exceptions import ClickException

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="kmsg", standalone_mode=False)
    except ClickException as exc:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "ok": False,
            "error": {"code": "usage", "message": exc.format_message()},
            "exit_code": 2,
            "warnings": [],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
