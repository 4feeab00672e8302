"""Shared command plumbing: global options on every command, and errors -> exit codes in one place.

``@command(app)`` adds the global options (``--json``, ``-q``, ``--config``, ...) to a command's own
signature, so they work after the sub-command as well as before it (CLI-11), and turns every
KmsgError into one clear line (or the JSON error document) with its documented exit code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import typing
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from kmsg_cli.commands._coerce import light
from kmsg_cli.context import AppContext
from kmsg_cli.errors import InternalError, Interrupted, KmsgError

if typing.TYPE_CHECKING:
    from typer._click.core import Command, Context
    from typer._click.formatting import HelpFormatter

F = TypeVar("F", bound=Callable[..., Any])

# the option panels of every command's help, in the order they are shown; a command's own options
# that fit none of them stay under "Options" (docs/architecture.md#help-text)
PANELS = ("Options", "Message", "AlimTalk", "Scheduling and rules", "Output", "Global options")
_GLOBAL_PANEL = "Global options"
# options typer and click add themselves, without a panel
_BUILT_IN = {"help", "install_completion", "show_completion"}

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Config file (default: $KMSG_CONFIG, $KMSG_HOME/config.toml).",
        show_default=False,
        metavar="PATH",
        rich_help_panel=_GLOBAL_PANEL,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database file or postgresql:// URL (default: $KMSG_DB, $KMSG_HOME/kmsg.db).",
        show_default=False,
        metavar="PATH|URL",
        rich_help_panel=_GLOBAL_PANEL,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print exactly one JSON document on stdout.", rich_help_panel=_GLOBAL_PANEL
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Only errors and warnings.", rich_help_panel=_GLOBAL_PANEL),
]
VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="Config, routes, HTTP calls, retries on stderr; -vv adds bodies (masked).",
        rich_help_panel=_GLOBAL_PANEL,
    ),
]
NoColorOpt = Annotated[
    bool,
    typer.Option("--no-color", help="No colour (also NO_COLOR).", rich_help_panel=_GLOBAL_PANEL),
]
ShowRecipientsOpt = Annotated[
    bool,
    typer.Option(
        "--show-recipients", help="Show phone numbers unmasked.", rich_help_panel=_GLOBAL_PANEL
    ),
]


class Format(StrEnum):
    table = "table"
    tsv = "tsv"
    csv = "csv"
    json = "json"


# `status --watch` and `send --wait` (commands/_watch.py)
IntervalOpt = Annotated[
    float,
    typer.Option(
        "--interval",
        metavar="DURATION",
        min=0.5,
        help="With --watch/--wait: seconds between checks.",
    ),
]
TimeoutOpt = Annotated[
    str,
    typer.Option(
        "--timeout",
        metavar="DURATION",
        help="With --watch/--wait: give up (exit 75) after this long.",
    ),
]
DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = "10m"

FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        help="table (default on a terminal), tsv (default when piped), csv, or json (= --json).",
        show_default=False,
        metavar="[table|tsv|csv|json]",
        rich_help_panel="Output",
    ),
]

GLOBAL_OPTIONS: dict[str, Any] = {
    "config": ConfigOpt,
    "db": DbOpt,
    "json": JsonOpt,
    "quiet": QuietOpt,
    "verbose": VerboseOpt,
    "no_color": NoColorOpt,
    "show_recipients": ShowRecipientsOpt,
}
_DEFAULTS: dict[str, Any] = {"config": None, "db": None, "verbose": 0}


def _format_panels(command: Command, ctx: Context, formatter: HelpFormatter) -> None:
    """Options under their panel's heading, in the order of PANELS, as plain text: help never
    imports rich, and the same text goes to a terminal, a pipe and the snapshots."""
    arguments: list[tuple[str, str]] = []
    panels: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append((record[0].split(" <")[0], record[1]))  # no typer "<str>" beside it
            continue
        panel = getattr(param, "rich_help_panel", None)
        if panel is None:
            panel = _GLOBAL_PANEL if param.name in _BUILT_IN else "Options"
        panels.setdefault(panel, []).append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    order = [*PANELS, *(name for name in panels if name not in PANELS)]
    for name in order:
        if name in panels:
            with formatter.section(name):
                formatter.write_dl(panels[name])


class HelpCommand(TyperCommand):
    """A command whose help groups its options in panels."""

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        _format_panels(self, ctx, formatter)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        light(self, ctx)  # no pydantic for plain option values (start-up)
        return super().parse_args(ctx, args)


class HelpGroup(TyperGroup):
    """A group whose help groups its options in panels, and that alone prints its help on stdout
    and exits 0: asking what a group does is not a usage error."""

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        _format_panels(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help())
            ctx.exit(0)
        light(self, ctx)
        return super().parse_args(ctx, args)


def app_context(ctx: typer.Context) -> AppContext:
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


def command(
    app: typer.Typer, name: str | None = None, *, formats: bool = False, **kwargs: Any
) -> Callable[[F], F]:
    """``formats``: the command lists things and takes ``--format`` (table, tsv, csv, json)."""
    options = {**GLOBAL_OPTIONS, **({"format": FormatOpt} if formats else {})}

    def decorate(fn: F) -> F:
        hints = typing.get_type_hints(fn, include_extras=True)
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
        ]
        for key, annotation in options.items():
            params.append(
                inspect.Parameter(
                    key,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=_DEFAULTS.get(key, False) if key != "format" else None,
                    annotation=annotation,
                )
            )

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            ctx: typer.Context = kw["ctx"]
            app_ctx = app_context(ctx)
            values = {key: kw.pop(key) for key in options}
            if values.get("format") is not None:
                values["format"] = values["format"].value
            app_ctx.set_options(**values)
            return run(app_ctx, lambda: fn(*args, **kw))

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        app.command(name, cls=HelpCommand, **kwargs)(wrapper)
        return fn

    return decorate


def run(app_ctx: AppContext, body: Callable[[], Any]) -> Any:
    """Run a command body; map every error to its exit code. No traceback unless KMSG_DEBUG=1."""
    out = app_ctx.output
    try:
        code = body()
    except typer.Exit:
        raise
    except KmsgError as exc:
        out.fail(exc)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        out.fail(Interrupted("interrupted; state saved"))
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("KMSG_DEBUG"):
            raise
        out.fail(
            InternalError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="rerun with KMSG_DEBUG=1 for details",
            )
        )
        raise typer.Exit(1) from None
    finally:
        app_ctx.close()
        out.flush()  # a reader gone by now must not turn the exit into a traceback
    if code:
        raise typer.Exit(int(code))
    return None


class Stop:
    """Set by SIGINT/SIGTERM; loops check it between units of work so the one in hand finishes.
    Calling it answers "stop now?" (the ``stopping`` argument of core.loop.run_every)."""

    def __init__(self) -> None:
        self.requested = False
        self.interrupted = False

    def __call__(self) -> bool:
        return self.requested


@contextlib.contextmanager
def stop_on_signals(notice: Callable[[int], None] | None = None) -> Iterator[Stop]:
    """The first SIGINT/SIGTERM asks the loop to stop after the work in hand, and calls
    ``notice(signum)`` so the person who pressed Ctrl-C knows it was heard; a second SIGINT
    interrupts at once."""
    stop = Stop()

    def handler(signum: int, _frame: Any) -> None:
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        first = not stop.requested
        stop.requested = True
        stop.interrupted = stop.interrupted or signum == signal.SIGINT
        if first and notice is not None:
            notice(signum)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: nothing to install
        pass
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
