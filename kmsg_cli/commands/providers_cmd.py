"""`kmsg providers`: list configured providers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from kmsg_cli import config
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.context import default_sender
from kmsg_cli.core.models import MessageType

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="Configured providers: list, doctor, balance.", no_args_is_help=True)


@command(app, "list")
def list_(ctx: typer.Context) -> None:
    """List configured providers, what they can send and how routing uses them (secrets masked).

    Example: kmsg providers list --json
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    settings = app_ctx.settings
    caps = app_ctx.capabilities()
    routing = settings.routing
    rows: list[dict[str, Any]] = []
    for pid, cfg in settings.providers.items():
        roles = [
            f"by_type.{t}"
            for t, ids in routing.by_type.items()
            if pid == ids or (isinstance(ids, list) and pid in ids)
        ]
        if routing.default == pid:
            roles.insert(0, "default")
        secrets = {
            key: config.masked(getattr(cfg, key))
            for key in sorted(config.SECRET_FIELDS)
            if isinstance(getattr(cfg, key, None), str)
        }
        sender = default_sender(cfg)
        rows.append(
            {
                "id": pid,
                "type": cfg.type,
                "types": [t.value for t in MessageType if t in caps[pid]],
                "routing": roles,
                "default_from": out.phone(sender) if sender else None,
                "secrets": secrets,
            }
        )
    doc = {
        "providers": rows,
        "strategy": routing.strategy,
        "embedded_default": app_ctx.using_default,
    }

    def human(console: Console) -> None:
        from rich.table import Table

        table = Table("id", "type", "can send", "routing", "secrets")
        for r in rows:
            table.add_row(
                r["id"],
                r["type"],
                " ".join(r["types"]),
                ", ".join(r["routing"]) or "-",
                ", ".join(f"{k}={v}" for k, v in r["secrets"].items()) or "-",
            )
        console.print(table)

    out.emit(doc, human, data=True)
