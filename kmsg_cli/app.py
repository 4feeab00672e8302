"""Composition root: the root Typer app, global options, the sub-commands, and ``main``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kmsg_cli import __version__
from kmsg_cli.commands import (
    config_cmd,
    providers_cmd,
    queue_cmd,
    send,
    send_bulk,
    status,
    suppress,
    track,
)
from kmsg_cli.commands._common import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    NoColorOpt,
    QuietOpt,
    ShowRecipientsOpt,
    VerboseOpt,
    app_context,
)
from kmsg_cli.output import SCHEMA_VERSION

EXIT_CODES = """Exit codes: 0 ok · 1 some messages failed · 2 usage · 65 invalid input · 66 file missing ·
69 provider unavailable · 74 database I/O (disk full, read-only) ·
75 temporary or unknown outcome (state saved; rerun or `kmsg track`) ·
77 provider refused authentication · 78 configuration · 130 interrupted."""

app = typer.Typer(
    name="kmsg",
    help="Send Korean SMS/LMS/MMS and KakaoTalk AlimTalk, track delivery, fail over to SMS.\n\n"
    + EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kmsg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    db: DbOpt = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")
    ] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    show_recipients: ShowRecipientsOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    app_context(ctx).set_options(
        config=config,
        db=db,
        json=json_,
        quiet=quiet,
        verbose=verbose,
        no_color=no_color,
        show_recipients=show_recipients,
    )


send.register(app)
send_bulk.register(app)
status.register(app)
track.register(app)
app.add_typer(providers_cmd.app, name="providers")
app.add_typer(config_cmd.app, name="config")
app.add_typer(queue_cmd.app, name="queue")
app.add_typer(suppress.app, name="suppress")

_ = JsonOpt  # the same option, declared on every command by commands._common


def main() -> None:
    """Console script. With --json, usage errors are a JSON document too (CLI-5)."""
    argv = sys.argv[1:]
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
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
