"""`kmsg senders`: the sender numbers registered with the providers (where they can list them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from kmsg_cli.commands._common import app_context, command
from kmsg_cli.commands.templates import CachedOpt, ProviderOpt, catalogs
from kmsg_cli.core.templates import Sender, SenderCatalog

if TYPE_CHECKING:
    from rich.console import Console

HELP = """Sender numbers registered with the providers.

Examples:

\b
  kmsg senders list
  kmsg senders list --cached --json
"""
app = typer.Typer(help=HELP, no_args_is_help=True)


@command(app, "list", formats=True)
def list_(
    ctx: typer.Context,
    provider: ProviderOpt = [],  # noqa: B006
    cached: CachedOpt = False,
) -> None:
    """List the registered sender numbers.

    Each provider that can list them (SOLAPI) is asked.

    Numbers are shown in full: they are the sender's own, not recipients.

    Examples:

    \b
      kmsg senders list
      kmsg senders list --cached --json
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    rows: list[tuple[str, Sender]] = []
    for pid, catalog in catalogs(app_ctx, provider, SenderCatalog):
        found = app_ctx.store().cached_senders(pid) if cached else catalog.senders()
        rows.extend((pid, s) for s in found or [])
    doc = {"senders": [{"provider": pid} | s.as_dict() for pid, s in rows]}

    def human(_console: Console) -> None:
        out.table(
            ("provider", "number", "status", "active"),
            [(pid, s.number, s.status or "-", "yes" if s.active else "no") for pid, s in rows],
        )

    out.emit(doc, human, data=True)
