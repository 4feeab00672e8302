"""`kmsg track`: delivery reconciliation and ALIMTALK -> SMS/LMS API failover (cron: `--once`)."""

from __future__ import annotations

import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli.commands._common import app_context, command, stop_on_signals
from kmsg_cli.commands._complete import complete_provider_ids
from kmsg_cli.core.times import duration_ms
from kmsg_cli.errors import AuthError, ConfigError, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.core.track import PassSummary, TrackOptions
    from kmsg_cli.output import Output

SIGINT_EXIT = 130
_COUNTS = ("checked", "changed", "delivered", "failed", "failed_over", "timed_out")


def register(app: typer.Typer) -> None:
    command(app, "track")(track)


def track(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (for cron).")] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", metavar="DURATION", min=0.1, help="Seconds between passes (loop mode)."
        ),
    ] = 5.0,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", metavar="N", min=1, help="Records per pass (default: [tracking] batch_size)."
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="ID",
            help="Only records of this provider id.",
            autocompletion=complete_provider_ids,
        ),
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Check every non-terminal record, whatever its schedule.")
    ] = False,
    purge: Annotated[
        bool,
        typer.Option("--purge", help="Delete finished records older than --older-than, then exit."),
    ] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Age for --purge (default: [tracking] retention_days).",
        ),
    ] = None,
) -> int:
    """Track delivery, and fail undelivered AlimTalk over to SMS.

    Asks providers what happened to sent messages. Each pass claims due records (leased, so
    overlapping runs never check one twice), records every answer, marks records UNKNOWN after
    24 h, then sends the fallback SMS/LMS of AlimTalk that failed as "not a KakaoTalk user".
    Without --once it loops until Ctrl-C or SIGTERM and finishes the records in hand first. Exit
    0 unless the pass could not run; a provider that refuses authentication or is misconfigured
    exits 77 / 78 (its records stay due).

    Examples:

    \b
      kmsg track --once
      kmsg track --interval 10
      kmsg track --purge --older-than 90d
    """
    app_ctx = app_context(ctx)
    if purge:
        return _purge(app_ctx, older_than)
    if older_than is not None:
        raise InputError("--older-than goes with --purge")
    settings = app_ctx.settings
    if provider is not None and provider not in settings.providers:
        known = ", ".join(settings.providers) or "none"
        raise InputError(f"unknown provider {provider!r} (configured: {known})")
    opts = _options(app_ctx, limit, provider, now)
    if once:
        summary = _one_pass(app_ctx, opts)
        at = app_ctx.clock.now_ms()
        due, _, _ = app_ctx.store(existing=True).tracking_overview(at)
        return _report(app_ctx.output, summary, passes=1, due=due)
    return _loop(app_ctx, opts, interval)


def _options(
    app_ctx: AppContext, limit: int | None, provider: str | None, everything: bool
) -> TrackOptions:
    from kmsg_cli.core.track import TrackOptions

    t = app_ctx.settings.tracking
    return TrackOptions(
        owner=f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}",
        limit=limit or t.batch_size,
        concurrency=t.concurrency,
        provider=provider,
        everything=everything,
        not_kakao_user=t.not_kakao_user_codes,
        jitter=_jitter,
    )


def _jitter(wait_ms: int) -> int:
    # spread checks a little so records sent together are not all due in the same tick (TRK-9)
    return random.randint(0, max(0, min(5_000, wait_ms // 10)))


def _one_pass(app_ctx: AppContext, opts: TrackOptions) -> PassSummary:
    from kmsg_cli.core.track import track_pass

    summary = track_pass(app_ctx.env(), app_ctx.store(existing=True), opts)
    deliver_events(app_ctx, opts.owner, summary)
    return summary


def deliver_events(app_ctx: AppContext, owner: str, summary: PassSummary) -> None:
    """The delivery events the pass recorded (and earlier ones due again) go out after it
    (docs/hooks.md); a hook that cannot be built (its secret missing) is the pass's config error,
    and its events wait."""
    from kmsg_cli.commands.hooks_cmd import deliver
    from kmsg_cli.core.track import PassError

    try:
        deliver(app_ctx, owner)
    except ConfigError as exc:
        summary.errors.append(PassError("hooks", exc, 0))


def _loop(app_ctx: AppContext, opts: TrackOptions, interval: float) -> int:
    from kmsg_cli.core.loop import run_every
    from kmsg_cli.core.track import PassSummary

    total = PassSummary()
    passes = 0

    def run_pass() -> None:
        nonlocal passes
        summary = _one_pass(app_ctx, opts)
        passes += 1
        _add(total, summary)
        if not app_ctx.output.json_mode and (summary.claimed or summary.errors):
            _report(app_ctx.output, summary, passes=1)

    with stop_on_signals() as stop:
        run_every(run_pass, app_ctx.clock.sleep, interval, stop)
    app_ctx.output.info(f"kmsg track: stopped after {passes} pass(es); leases released")
    if app_ctx.output.json_mode:
        _report(app_ctx.output, total, passes=passes)
    return SIGINT_EXIT if stop.interrupted else 0


def _add(total: PassSummary, summary: PassSummary) -> None:
    for f in fields(total):
        if f.name == "errors":
            total.errors.extend(summary.errors)
        else:
            setattr(total, f.name, getattr(total, f.name) + getattr(summary, f.name))


def _exit_code(summary: PassSummary) -> int:
    """Auth and config errors need a person (TRK-10); anything else is rescheduled: exit 0."""
    for e in summary.errors:
        if isinstance(e.error, AuthError | ConfigError):
            return e.error.exit_code
    return 0


def _report(out: Output, summary: PassSummary, *, passes: int, due: int | None = None) -> int:
    """``due``: messages still due for a check after the pass (--once), beyond its --limit or
    left by a provider that could not be asked."""
    code = _exit_code(summary)
    counts = {k: v for k, v in asdict(summary).items() if k != "errors"}
    errors = [
        {"provider": e.provider_id, "records": e.records, **e.error.to_dict()}
        for e in summary.errors
    ]
    doc = {"passes": passes, "summary": counts, "errors": errors, "due": due}
    if out.json_mode:
        if code:
            first = next(e.error for e in summary.errors if e.error.exit_code == code)
            out.fail(first, doc, exit_code=code)
        else:
            out.emit(doc)
        return code
    for e in summary.errors:
        out.error(f"{e.provider_id}: {e.error.message} ({e.records} record(s) not checked)")
        if e.error.hint:
            out.error(f"hint: {e.error.hint}", prefix=False)
    out.emit(doc, _summary_line(summary, due))
    return code


def _summary_line(summary: PassSummary, due: int | None) -> Callable[[Console], None]:
    def human(console: Console) -> None:
        parts = [f"{getattr(summary, k)} {k.replace('_', ' ')}" for k in _COUNTS]
        still = "" if due is None else f"; {due} still due"
        console.print("track: " + ", ".join(parts) + still, markup=False)

    return human


def _purge(app_ctx: AppContext, older_than: str | None) -> int:
    """Retention (PII-6): really delete finished records, their history and finished intents."""
    days = app_ctx.settings.tracking.retention_days
    age = older_than or f"{days}d"
    window = duration_ms(age)
    if window <= 0:
        raise InputError("--older-than must be more than 0")
    store = app_ctx.store(existing=True)
    cutoff = app_ctx.clock.now_ms() - window
    counts = store.purge_terminal(cutoff)
    events = store.purge_hook_events(cutoff)  # they hold recipients too (docs/hooks.md)
    doc = {"older_than": age, "purged": asdict(counts) | {"hook_events": events}}

    def human(console: Console) -> None:
        console.print(
            f"purged {counts.records} record(s), {counts.history} history row(s) and "
            f"{counts.intents} failover intent(s) older than {age}"
            + (f"; {events} delivery event(s)" if events else "")
        )

    app_ctx.output.emit(doc, human)
    return 0
