"""`kmsg db`: the database itself: which one, its schema, migrating it, copying it elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli import config
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

HELP = """The database: which one, its schema, copying it.

SQLite (the default) or PostgreSQL, for many hosts.

Examples:

\b
  kmsg db info
  KMSG_DB=postgresql://kmsg@db.internal/kmsg kmsg db migrate
  kmsg db copy --to postgresql://kmsg@db.internal/kmsg
"""
app = typer.Typer(help=HELP, no_args_is_help=True)


@command(app, "info")
def info(ctx: typer.Context) -> None:
    """Show the database in use, its schema version and rows per table.

    The password of a URL is masked.

    Examples:

    \b
      kmsg db info
      kmsg db info --db postgresql://kmsg@db.internal/kmsg --json
    """
    app_ctx = app_context(ctx)
    store = app_ctx.store(existing=True)
    doc = {
        "backend": store.backend,
        "database": app_ctx.db_shown,
        "schema_version": store.schema(),
        "migrations": store.migrations(),
        "tables": store.table_counts(),
    }

    def human(console: Console) -> None:
        console.print(f"backend   {doc['backend']}")
        console.print(f"database  {doc['database']}")
        console.print(f"schema    {doc['schema_version']}")
        app_ctx.output.table(("table", "rows"), list(store.table_counts().items()))

    app_ctx.output.emit(doc, human)


@command(app, "migrate")
def migrate(ctx: typer.Context) -> None:
    """Bring the database's schema up to date.

    Every command also does on open; safe to run on several hosts at once: each migration is
    applied once.

    Examples:

    \b
      kmsg db migrate
      kmsg db migrate --db postgresql://kmsg@db.internal/kmsg
    """
    app_ctx = app_context(ctx)
    store = app_ctx.store()
    doc = {
        "database": app_ctx.db_shown,
        "applied": store.migrated,
        "schema_version": store.schema(),
    }

    def human(console: Console) -> None:
        for name in store.migrated:
            console.print(f"applied {name}")
        console.print(f"schema {doc['schema_version']}: up to date")

    app_ctx.output.emit(doc, human)


@command(app, "copy")
def copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL|PATH",
            help="The database to copy into: a postgresql:// URL or a SQLite file.",
            show_default=False,
        ),
    ],
) -> None:
    """Copy this database into another.

    Records, history, queue jobs, campaigns, the opt-out list and cursors; rows already there are
    skipped, so a rerun copies nothing twice.

    Examples:

    \b
      kmsg db copy --to postgresql://kmsg@db.internal/kmsg
      kmsg db copy --db old.db --to postgresql://kmsg@/kmsg?host=/run/postgresql
    """
    app_ctx = app_context(ctx)
    shown = config.mask_db_url(to) if config.is_db_url(to) else to
    if shown == app_ctx.db_shown:
        raise UsageError(f"--to names the database being copied: {shown}")
    source = app_ctx.store(existing=True)
    from kmsg_cli.store import open_store

    target = open_store(to, app_ctx.clock.now_ms())
    try:
        copied = source.copy_to(target)
    finally:
        target.close()
    doc = {"from": app_ctx.db_shown, "to": shown, "copied": copied}

    def human(console: Console) -> None:
        console.print(f"copied {app_ctx.db_shown} into {shown}")
        app_ctx.output.table(("table", "rows copied"), list(copied.items()))

    app_ctx.output.emit(doc, human)
