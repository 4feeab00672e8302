"""The root Typer app: global options and the sub-commands, each imported when it is used.

A command's module (and what it imports: the core use case, the store, the config models) is loaded
only when that command runs, or when help or shell completion lists the commands, so
``kmsg status`` does not pay for ``send-bulk`` or ``config``. ``app.main`` answers ``--version``
before this module is imported at all.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli.commands._common import (
    ConfigOpt,
    DbOpt,
    HelpGroup,
    JsonOpt,
    NoColorOpt,
    QuietOpt,
    ShowRecipientsOpt,
    VerboseOpt,
    app_context,
)

if TYPE_CHECKING:
    from typer._click.core import Command, Context

EXIT_CODES = """Exit codes: 0 ok · 1 some messages failed · 2 usage · 65 invalid input · 66 file missing ·
69 provider unavailable · 74 database I/O (disk full, read-only) ·
75 temporary or unknown outcome (state saved; rerun or `kmsg track`) ·
77 provider refused authentication · 78 configuration · 130 interrupted."""

# "\b" keeps the examples' line breaks when click rewraps the help
HELP = """Send Korean SMS/LMS/MMS and KakaoTalk AlimTalk, track delivery, fail over to SMS.

Examples:

\b
  kmsg send --to 010-1234-5678 --text "배송이 시작되었습니다"
  kmsg send-bulk campaign.csv --text "#{name}님, 주문이 출발했습니다"
  kmsg status --since 1d
  kmsg send -h

"""

# each command's module under kmsg_cli.commands, in the order `kmsg --help` lists them; a module
# with ``register(app)`` adds its one command, any other holds a Typer group named ``app``
COMMANDS = {
    "send": "send",
    "send-bulk": "send_bulk",
    "status": "status",
    "track": "track",
    "providers": "providers_cmd",
    "config": "config_cmd",
    "queue": "queue_cmd",
    "suppress": "suppress",
    "templates": "templates",
    "senders": "senders",
    "db": "db_cmd",
    "hooks": "hooks_cmd",
}

# the settings a command inherits from the root app when typer builds it
_SETTINGS: dict[str, Any] = {"rich_markup_mode": None, "pretty_exceptions_enable": False}


def _load(name: str) -> Command:
    module = importlib.import_module(f"kmsg_cli.commands.{COMMANDS[name]}")
    holder = typer.Typer(**_SETTINGS)
    if hasattr(module, "register"):
        module.register(holder)
    else:
        holder.add_typer(module.app, name=name, cls=HelpGroup)
    return typer.main.get_group(holder).commands[name]


class _Commands(MutableMapping[str, "Command"]):
    """The root group's sub-commands: every name known up front, each built on first lookup.
    Iterating gives the names without importing anything; ``items()`` builds them all."""

    def __init__(self, built: MutableMapping[str, Command]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._built if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._built.keys())


class _LazyGroup(HelpGroup):
    def __init__(self, *, commands: dict[str, Command] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.commands = _Commands(commands or {})

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names alone: listing builds nothing


app = typer.Typer(
    name="kmsg",
    help=HELP + EXIT_CODES,
    no_args_is_help=True,
    # -h as well as --help, inherited by every sub-command's context
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
    cls=_LazyGroup,
    **_SETTINGS,
)


def _version(value: bool) -> None:
    if value:
        from kmsg_cli.app import version_text

        # eager: --json may not be parsed yet, so look for it among the arguments themselves
        typer.echo(version_text("--json" in sys.argv[1:]), nl=False)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    db: DbOpt = None,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print exactly one JSON document on stdout.",
            rich_help_panel="Global options",
        ),
    ] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
    no_color: NoColorOpt = False,
    show_recipients: ShowRecipientsOpt = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version.",
            rich_help_panel="Global options",
        ),
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


_ = JsonOpt  # the same option, declared on every command by commands._common
