"""`kmsg suppress`: the local opt-out list every send honours (checked at send time)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli.commands._common import app_context, command
from kmsg_cli.core import phone

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="The local opt-out list: numbers kmsg never sends to.", no_args_is_help=True)

Numbers = Annotated[
    list[str], typer.Argument(metavar="NUMBER...", help="Phone numbers.", show_default=False)
]


@command(app, "add")
def add(
    ctx: typer.Context,
    numbers: Numbers,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why (kept with the entry).")
    ] = None,
) -> None:
    """Add numbers to the opt-out list.

    Example: kmsg suppress add 010-1234-5678 --reason "080 opt-out"
    """
    app_ctx = app_context(ctx)
    normalized = [phone.recipient(n) for n in numbers]
    added = app_ctx.store().suppress(normalized, reason, app_ctx.clock.now_ms())
    app_ctx.output.emit(
        {"added": added, "already": len(normalized) - added},
        lambda c: c.print(f"added {added}, already listed {len(normalized) - added}"),
    )


@command(app, "remove")
def remove(ctx: typer.Context, numbers: Numbers) -> None:
    """Remove numbers from the opt-out list.

    Example: kmsg suppress remove 010-1234-5678
    """
    app_ctx = app_context(ctx)
    removed = app_ctx.store().unsuppress([phone.normalize(n) for n in numbers])
    app_ctx.output.emit({"removed": removed}, lambda c: c.print(f"removed {removed}"))


@command(app, "list", formats=True)
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Entries to show.")
    ] = 100,
) -> None:
    """List opted-out numbers, newest first.

    Example: kmsg suppress list --show-recipients
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    entries = app_ctx.store().suppressions(limit)
    doc = {
        "numbers": [{"number": out.phone(n), "added_at": at, "reason": r} for n, at, r in entries]
    }

    def human(_console: Console) -> None:
        out.table(
            ("number", "added", "reason"),
            [(out.phone(n), out.time(at), r or "") for n, at, r in entries],
        )

    out.emit(doc, human, data=True)
