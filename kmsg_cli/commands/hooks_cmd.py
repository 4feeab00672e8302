"""`kmsg hooks list/run`: the delivery events of [hooks] (docs/hooks.md), and the delivery step
`kmsg track` and `kmsg status --watch` run after their passes."""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli.commands._common import app_context, command
from kmsg_cli.core import hooks
from kmsg_cli.errors import ConfigError, ExitCode, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.core.hooks import HookSummary

HELP = """Delivery events sent to the [hooks] command and webhook.

An event is recorded when a message reaches a final state or fails over, in the same write as
the change, and delivered after each `kmsg track` pass; a failed delivery is retried with
backoff.

Examples:

\b
  kmsg hooks list
  kmsg hooks list --state failed
  kmsg hooks run --now
"""
app = typer.Typer(help=HELP, no_args_is_help=True)
STATES = (hooks.PENDING, hooks.SENDING, hooks.DELIVERED, hooks.GAVE_UP)


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def deliver(app_ctx: AppContext, who: str, *, everything: bool = False) -> HookSummary:
    """Deliver the due events (nothing without [hooks]); each failed delivery is a warning."""
    sinks = app_ctx.hook_sinks()
    if not sinks:
        return hooks.HookSummary()
    summary = hooks.deliver_due(
        app_ctx.store(existing=True),
        sinks,
        app_ctx.clock,
        who,
        app_ctx.hook_policy(),
        everything=everything,
    )
    for line in summary.errors:
        app_ctx.output.warn(f"hooks: {line}")
    return summary


@command(app, "list", formats=True)
def list_(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", metavar="[" + "|".join(STATES) + "]", help="Only events in this state."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="At most N.")] = 100,
) -> None:
    """List delivery events and where each stands.

    One row per event and target (command, webhook): its state, attempts, the next attempt or
    when it was delivered, and the last error. Recipients are not shown.

    Examples:

    \b
      kmsg hooks list
      kmsg hooks list --state failed --json
    """
    app_ctx = app_context(ctx)
    if state is not None and state not in STATES:
        raise InputError(f"unknown state {state!r}: use one of {', '.join(STATES)}")
    out = app_ctx.output
    events = app_ctx.store(existing=True).hook_events(state=state, limit=limit)
    doc = {
        "events": [
            {
                "event_id": e.event_id,
                "target": e.target,
                "kind": e.kind,
                "message_id": e.message_id,
                "state": e.state,
                "attempts": e.attempts,
                "created_at": e.created_at,
                "next_attempt_at": e.next_attempt_at,
                "delivered_at": e.delivered_at,
                "exit_status": e.exit_status,
                "last_error": e.last_error,
            }
            for e in events
        ]
    }

    def human(_console: Console) -> None:
        out.table(
            ("event", "target", "state", "attempts", "when", "last error"),
            [
                (
                    e.event_id,
                    e.target,
                    e.state,
                    e.attempts,
                    out.time(e.delivered_at if e.delivered_at else e.next_attempt_at),
                    e.last_error or "-",
                )
                for e in events
            ],
            empty="no delivery events",
        )

    out.emit(doc, human, data=True)


@command(app, "run")
def run(
    ctx: typer.Context,
    now: Annotated[
        bool,
        typer.Option("--now", help="Every undelivered event, whatever its backoff, given up too."),
    ] = False,
) -> int:
    """Deliver the due events now.

    `kmsg track` does this after each pass; this is for a receiver that was down, or after
    fixing the hook. Exit 0 when every event tried was delivered, 75 when some will be retried.

    Examples:

    \b
      kmsg hooks run
      kmsg hooks run --now
    """
    app_ctx = app_context(ctx)
    if not app_ctx.settings.hooks.targets():
        raise ConfigError("no [hooks] configured", hint="set hooks.on_final or hooks.webhook_url")
    summary = deliver(app_ctx, owner(), everything=now)
    doc = {"delivered": summary.delivered, "retrying": summary.retrying, "failed": summary.gave_up}

    def human(console: Console) -> None:
        console.print(
            f"hooks: {summary.delivered} delivered, {summary.retrying} to retry, "
            f"{summary.gave_up} given up",
            markup=False,
        )

    app_ctx.output.emit(doc, human)
    return ExitCode.TEMPFAIL if summary.retrying or summary.gave_up else ExitCode.OK
