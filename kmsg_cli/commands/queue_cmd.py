"""`kmsg queue`: the local job queue for scheduled and deferred sends and their retries."""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli.commands._common import app_context, command, stop_on_signals
from kmsg_cli.commands._complete import complete_job_statuses
from kmsg_cli.core import queue
from kmsg_cli.core.models import Job
from kmsg_cli.core.times import duration_ms, kst
from kmsg_cli.errors import ExitCode, Failed, InputError, Interrupted

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.output import Output

HELP = """The local queue: scheduled and deferred sends, retries.

Examples:

\b
  kmsg queue list
  kmsg queue run --once
  kmsg queue cancel 01a21963
"""
app = typer.Typer(help=HELP, no_args_is_help=True)
STATUSES = ("pending", "processing", "completed", "failed", "cancelled")


def owner() -> str:
    """Who holds the jobs of one pass: unique even across hosts that share a name and a pid
    (containers), since finishing a job checks the owner (docs/storage.md)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@command(app, "list", formats=True)
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="pending|processing|completed|failed|cancelled",
            autocompletion=complete_job_statuses,
        ),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only dead jobs (attempts exhausted or refused).")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="Jobs to show.")] = 50,
) -> None:
    """List jobs, latest scheduled first.

    Examples:

    \b
      kmsg queue list
      kmsg queue list --failed
      kmsg queue list --status pending
    """
    app_ctx = app_context(ctx)
    if status and status not in STATUSES:
        raise InputError(f"unknown job status {status!r}: use one of {', '.join(STATUSES)}")
    store = app_ctx.store(existing=True)
    jobs = store.list_jobs("failed" if failed else status, limit)
    out = app_ctx.output
    doc = {"counts": store.job_counts(), "jobs": [job_doc(out, j) for j in jobs]}

    def human(_console: Console) -> None:
        out.table(
            ("id", "status", "to", "run at", "attempts", "reason / error"),
            [
                (
                    j.id,
                    j.status,
                    out.phone(j.data.get("to")),
                    out.time(j.process_at),
                    f"{j.attempts}/{j.max_attempts}",
                    j.error or j.metadata.get("reason", ""),
                )  # fmt: skip
                for j in jobs
            ],
            empty="no jobs match" if status or failed else "the queue is empty",
        )

    out.emit(doc, human, data=True)


@command(app, "show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="Job id or a unique prefix.")],
) -> None:
    """Show one job.

    Examples:

    \b
      kmsg queue show 01a21963
      kmsg queue show 01a21963 --json
    """
    app_ctx = app_context(ctx)
    job = _get(app_ctx, job_id)
    doc = {"job": job_doc(app_ctx.output, job)}

    def human(console: Console) -> None:
        for key, value in doc["job"].items():
            if value not in (None, "", {}):
                shown = kst(value) if key.endswith("_at") and isinstance(value, int) else value
                console.print(f"{key}: {shown}", markup=False)

    app_ctx.output.emit(doc, human, data=True)


@command(app, "run")
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="One pass over due jobs (the default; for cron).")
    ] = True,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="Jobs per pass.")] = 50,
) -> int:
    """Send the jobs that are due, once (for cron).

    Examples:

    \b
      kmsg queue run --once
      kmsg queue run --once --json
    """
    app_ctx = app_context(ctx)
    summary = queue.run_once(app_ctx.env(), app_ctx.store(existing=True), owner(), limit=limit)
    return _report(app_ctx, summary)


@command(app, "work")
def work(
    ctx: typer.Context,
    interval: Annotated[
        float,
        typer.Option("--interval", metavar="DURATION", min=0.1, help="Seconds between passes."),
    ] = 1.0,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="Jobs per pass.")] = 50,
) -> int:
    """Send due jobs in a loop until stopped.

    Runs until SIGINT/SIGTERM; the job in hand is finished first.

    Examples:

    \b
      kmsg queue work
      kmsg queue work --interval 5
    """
    from kmsg_cli.core.loop import run_every

    app_ctx = app_context(ctx)
    codes: list[int] = []
    # --json: one document for the whole run (the passes added up), printed when it stops
    total = queue.QueueSummary()

    def run_pass() -> None:
        summary = queue.run_once(app_ctx.env(), app_ctx.store(existing=True), owner(), limit=limit)
        if app_ctx.output.json_mode:
            _add(total, summary)
        elif summary.claimed or summary.config_error:
            codes.append(_report(app_ctx, summary))
        if summary.config_error:
            stop.requested = True  # a person has to fix the config first

    with stop_on_signals() as stop:
        run_every(run_pass, app_ctx.clock.sleep, interval, stop)
    if app_ctx.output.json_mode:
        codes.append(_report(app_ctx, total, interrupted=stop.interrupted))
    if codes and codes[-1] == 78:
        return 78
    if stop.interrupted:
        raise Interrupted("stopped; jobs not started are left pending")
    return 0


def _add(total: queue.QueueSummary, summary: queue.QueueSummary) -> None:
    for name in ("claimed", "sent", "retried", "dead", "deferred", "unknown"):
        setattr(total, name, getattr(total, name) + getattr(summary, name))
    total.errors += summary.errors
    total.config_error = summary.config_error or total.config_error


def _report(app_ctx: AppContext, summary: queue.QueueSummary, *, interrupted: bool = False) -> int:
    out = app_ctx.output
    doc: dict[str, Any] = {
        k: getattr(summary, k)
        for k in ("claimed", "sent", "retried", "dead", "deferred", "unknown")
    }
    doc["errors"] = summary.errors
    for error in summary.errors:
        out.warn(error)
    if summary.config_error:
        out.fail(summary.config_error, doc)
        return summary.config_error.exit_code
    if interrupted:
        out.fail(Interrupted("stopped; jobs not started are left pending"), doc)
        return ExitCode.INTERRUPTED
    line = ", ".join(f"{v} {k}" for k, v in doc.items() if k != "errors")
    out.emit(doc, lambda c: c.print(f"queue: {line}"))
    if summary.dead:
        return ExitCode.FAILED
    return ExitCode.TEMPFAIL if summary.unknown else ExitCode.OK


@command(app, "retry")
def retry(
    ctx: typer.Context,
    job_id: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="A dead job to run again.", show_default=False),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every dead job.")] = False,
) -> None:
    """Put dead jobs back in the queue with fresh attempts.

    Examples:

    \b
      kmsg queue retry --failed
      kmsg queue retry 01a21963
    """
    app_ctx = app_context(ctx)
    if bool(job_id) == failed:
        raise InputError("give a job id or --failed (one of them)")
    store = app_ctx.store(existing=True)
    if failed:  # the dead jobs of the moment, named so -q can print them
        ids = [j.id for j in store.list_jobs("failed", -1)]  # -1: no limit
    else:
        ids = [_get(app_ctx, job_id or "").id]
    count = store.requeue_jobs(ids, app_ctx.clock.now_ms()) if ids else 0
    if not failed and not count:
        raise InputError(f"job {ids[0]} is not dead; only failed jobs can be retried")
    app_ctx.output.emit(
        {"requeued": count, "ids": ids},
        lambda c: c.print(f"requeued {count} job(s)"),
        ids=ids,
    )


@command(app, "cancel")
def cancel(
    ctx: typer.Context,
    job_id: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="A job id, or the id of a message the provider holds scheduled."
        ),
    ],
) -> None:
    """Cancel a queued job or a scheduled message.

    A message scheduled with the provider is cancelled there, where the provider can.

    Examples:

    \b
      kmsg queue cancel 01a21963
      kmsg queue cancel 01a21963 --json
    """
    app_ctx = app_context(ctx)
    store = app_ctx.store(existing=True)
    now = app_ctx.clock.now_ms()
    job = store.get_job(job_id)
    if job is not None:
        if job.status == "cancelled":  # cancelling twice is not a failure: the job stays put
            app_ctx.output.emit(
                {"cancelled": job.id, "kind": "job", "already": True},
                lambda c: c.print(f"job {job.id} was already cancelled"),
                ids=[job.id],
            )
            return
        if not store.cancel_job(job.id, now):
            raise Failed(
                f"job {job.id} is {job.status}; only pending or dead jobs can be cancelled",
                exit_code=ExitCode.FAILED,
                code="not_cancellable",
            )
        app_ctx.output.emit(
            {"cancelled": job.id, "kind": "job"},
            lambda c: c.print(f"cancelled job {job.id}"),
            ids=[job.id],
        )
        return
    record = queue.cancel_scheduled(app_ctx.env(), store, job_id)
    app_ctx.output.emit(
        {
            "cancelled": record.message_id,
            "kind": "provider_schedule",
            "provider": record.provider_id,
        },
        lambda c: c.print(
            f"cancelled scheduled message {record.message_id} at {record.provider_id}"
        ),
        ids=[record.message_id],
    )


@command(app, "purge")
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", metavar="DURATION", help="Age of finished/dead jobs to delete."
        ),
    ] = "30d",
) -> None:
    """Delete finished jobs older than a window.

    Completed, cancelled and dead jobs go; pending jobs are kept.

    Examples:

    \b
      kmsg queue purge
      kmsg queue purge --older-than 7d
    """
    app_ctx = app_context(ctx)
    count = app_ctx.store(existing=True).purge_jobs(
        app_ctx.clock.now_ms() - duration_ms(older_than)
    )
    app_ctx.output.emit({"deleted": count}, lambda c: c.print(f"deleted {count} job(s)"))


def _get(app_ctx: AppContext, job_id: str) -> Job:
    job = app_ctx.store(existing=True).get_job(job_id)
    if job is None:
        raise InputError(f"no job matches {job_id!r}")
    return job


def job_doc(out: Output, j: Job) -> dict[str, Any]:
    return {
        "id": j.id, "type": j.type, "status": j.status, "to": out.phone(j.data.get("to")),
        "priority": j.priority, "attempts": j.attempts, "max_attempts": j.max_attempts,
        "created_at": j.created_at, "process_at": j.process_at, "completed_at": j.completed_at,
        "failed_at": j.failed_at, "error": j.error, "reason": j.metadata.get("reason"),
        "message_id": j.metadata.get("message_id"),
    }  # fmt: skip
