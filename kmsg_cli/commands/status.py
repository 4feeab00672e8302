"""`kmsg status`: what happened — a summary, or one message with its history.

The summary's note column and tracking line are described in the README (Usage: status); one
message's view and the note are in _message_view.py, id prefixes in _ids.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli.commands._common import (
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    IntervalOpt,
    TimeoutOpt,
    app_context,
    command,
)
from kmsg_cli.commands._complete import (
    complete_provider_ids,
    complete_statuses,
    complete_types,
)
from kmsg_cli.commands._ids import job_filter, resolve, short_ids
from kmsg_cli.commands._message_view import (
    linked_records,
    note,
    record_doc,
    show_one,
    status_text,
)
from kmsg_cli.core import phone
from kmsg_cli.core.models import MessageType, Status
from kmsg_cli.core.times import is_duration, kst, parse_point
from kmsg_cli.errors import InputError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.output import Output
    from kmsg_cli.store import Store


def register(app: typer.Typer) -> None:
    command(app, "status", formats=True)(status)


def status(
    ctx: typer.Context,
    message_id: Annotated[
        str | None,
        typer.Argument(
            metavar="ID", help="A message id (or a unique prefix of one).", show_default=False
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="From: a duration ago (30m, 24h, 7d) or a Seoul date/time (2026-12-01, "
            "2026-12-01 08:30, ISO 8601). Default 24h; all time with --job or --to.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="WHEN",
            help="Before: a duration ago or a date/time, as --since.",
            show_default=False,
        ),
    ] = None,
    status_: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only this status.",
            autocompletion=complete_statuses,
        ),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="Only this message type.",
            autocompletion=complete_types,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="ID",
            help="Only this provider id.",
            autocompletion=complete_provider_ids,
        ),
    ] = None,
    job: Annotated[
        str | None,
        typer.Option(
            "--job",
            metavar="ID",
            help="Only this campaign (send-bulk job, or a unique prefix of its id) or queue job.",
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", metavar="NUMBER[,NUMBER]", help="Only these recipients.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Messages to list.")
    ] = 20,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="With ID: check it until it is final; exit 0 delivered, 1 not, 75 timeout.",
        ),
    ] = False,
    interval: IntervalOpt = DEFAULT_INTERVAL,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
) -> int:
    """Show recent messages, or one message in full.

    The summary counts messages by status, type and provider, lists the latest with a note (why
    one failed, where a scheduled one is held, the SMS an AlimTalk fell back to), and says how
    many messages are due for a delivery check. A named --job or --to is searched in all time.

    Examples:

    \b
      kmsg status
      kmsg status --since 7d --status FAILED
      kmsg status --job customers --since 2026-12-01
      kmsg status 0193abc
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    store = app_ctx.store(existing=True)
    now = app_ctx.clock.now_ms()
    if watch:
        if not message_id:
            raise UsageError("--watch needs a message ID", hint="kmsg status 0193abc --watch")
        return _watch(app_ctx, resolve(store, message_id).message_id, interval, timeout)
    if message_id:
        show_one(out, store, message_id, now)
        return 0
    window = since or (None if job is not None or to is not None else DEFAULT_WINDOW)
    start = parse_point(window, now, "--since") if window else None
    end = parse_point(until, now, "--until") if until else None
    if start is not None and end is not None and end <= start:
        raise InputError(f"--until {until!r} is not after --since {window!r}: nothing can match")
    filters = {
        "status": Status(status_.upper()).value if status_ and _valid_status(status_) else None,
        "type": MessageType.parse(type_).value if type_ else None,
        "provider": provider,
        "job": job_filter(store, job) if job is not None else None,
        "to": _numbers(to),
    }
    counts = {
        key: dict(store.counts(key, since=start, until=end, **filters))
        for key in ("status", "type", "provider")
    }
    records = store.list_records(since=start, until=end, limit=limit, **filters)
    tracking = _tracking(store, now)
    linked = linked_records(store, records)
    notes = {r.message_id: note(out, r, linked, now) for r in records}
    messages = [{**record_doc(out, r), "note": notes[r.message_id]} for r in records]
    doc = {
        "since": window,
        "since_at": start,
        "until_at": end,
        "counts": counts,
        "messages": messages,
        "tracking": tracking,
    }
    scope = _scope(out, window, start, end, filters)

    def human(console: Console) -> None:
        total = sum(counts["status"].values())
        if out.prose():  # piped: the message rows alone (the counts are in --json)
            if not total:
                console.print(f"no messages {scope}".rstrip(), markup=False)
            else:
                console.print(f"{total} message(s) {scope}".rstrip(), markup=False)
                out.table(("status", "count"), [(k, str(n)) for k, n in counts["status"].items()])
                console.print(
                    "by type: "
                    + ", ".join(f"{k} {n}" for k, n in counts["type"].items())
                    + " · by provider: "
                    + ", ".join(f"{k} {n}" for k, n in counts["provider"].items()),
                    markup=False,
                )
        if records or not out.prose():
            short = short_ids(out, store, [r.message_id for r in records])
            out.table(
                ("id", "requested", "to", "type", "provider", "status", "note"),
                [
                    (
                        short[r.message_id],
                        out.time(r.requested_at),
                        out.phone(r.to),
                        r.type.value,
                        r.provider_id,
                        status_text(r),
                        notes[r.message_id] or "",
                    )
                    for r in records
                ],
            )
        if out.prose():
            for line in _tracking_lines(out, tracking, now):
                console.print(line, markup=False)

    out.emit(doc, human, data=True)
    return 0


def _watch(app_ctx: AppContext, message_id: str, interval: float, timeout: str) -> int:
    """Follow one message (on to its fallback, if it fails over) and show where it ended."""
    from kmsg_cli.commands._watch import follow

    followed, code, error = follow(app_ctx, [message_id], interval, timeout)
    record = followed[0].record
    shown = record.message_id if record else message_id
    show_one(app_ctx.output, app_ctx.store(), shown, app_ctx.clock.now_ms(), error)
    return code


DEFAULT_WINDOW = "24h"
# tracking whose most overdue message has waited this long is not running (a cron line every few
# minutes keeps it well under)
BEHIND_MS = 15 * 60_000


def _numbers(to: str | None) -> str | None:
    """``--to``: one number or several, comma-separated, normalized (the store's form)."""
    numbers = [phone.normalize(n) for n in (to or "").split(",") if n.strip()]
    return ",".join(numbers) or None


def _scope(
    out: Output, window: str | None, start: int | None, end: int | None, filters: dict[str, Any]
) -> str:
    """What the summary covers, in words: "in the last 24h", "since ... before ...", "of job X"."""
    parts = []
    if window is not None and start is not None:
        parts.append(f"in the last {window}" if is_duration(window) else f"since {kst(start)}")
    if end is not None:
        parts.append(f"before {kst(end)}")
    if filters["job"]:
        parts.append(f"of job {filters['job']}")
    if filters["to"]:
        parts.append("to " + ", ".join(out.phone(n) for n in filters["to"].split(",")))
    for key in ("status", "type", "provider"):
        if filters[key]:
            parts.append(f"{key} {filters[key]}")
    return " ".join(parts)


def _tracking(store: Store, now: int) -> dict[str, Any]:
    due, oldest, last = store.tracking_overview(now)
    return {
        "due": due,
        "oldest_due_at": oldest,
        "last_check_at": last,
        "behind": bool(due and oldest is not None and now - oldest > BEHIND_MS),
    }


def _tracking_lines(out: Output, tracking: dict[str, Any], now: int) -> list[str]:
    last = tracking["last_check_at"]
    checked = f"last check {kst(last)} ({ago(now - last)} ago)" if last else "no check yet"
    if not tracking["due"]:
        return [f"tracking: nothing due now; {checked}"]
    waited = ago(now - tracking["oldest_due_at"])
    lines = [f"tracking: {tracking['due']} message(s) due now, the oldest for {waited}; {checked}"]
    if tracking["behind"]:
        lines.append("hint: run `kmsg track --once` from cron (or keep `kmsg track` running)")
    return lines


def ago(ms: int) -> str:
    """A span in its largest whole unit: 45s, 12m, 3h, 2d."""
    seconds = max(0, ms // 1000)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _valid_status(value: str) -> bool:
    try:
        Status(value.upper())
    except ValueError:
        raise InputError(
            f"unknown status {value!r}: use one of {', '.join(s.value for s in Status)}"
        ) from None
    return True
