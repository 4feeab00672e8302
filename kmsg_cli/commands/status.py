"""`kmsg status`: what happened — a summary, or one message with its history.

The summary's note column and tracking line are described in the README (Usage: status); id and
campaign-id prefixes resolve git style, here for every command that takes one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

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
from kmsg_cli.core import phone
from kmsg_cli.core.models import MessageType, Record, SendState, Status
from kmsg_cli.core.times import is_duration, iso, kst, parse_point
from kmsg_cli.errors import InputError, InputFileError, KmsgError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.output import Output
    from kmsg_cli.store import Store
    from kmsg_cli.store.track import Intent


AMBIGUOUS_SHOWN = 10


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
        _one(out, store, message_id, now)
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
    linked = _linked(store, records)
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
                        _status_text(r),
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
    _one(app_ctx.output, app_ctx.store(), shown, app_ctx.clock.now_ms(), error)
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


class Linked(NamedTuple):
    fallbacks: dict[str, Record]  # by the fallback's id
    intents: dict[str, Intent]  # by the original's id, while it has no fallback message


def _linked(store: Store, records: list[Record]) -> Linked:
    """For the listed AlimTalk messages that failed over: their fallback message by its id, or,
    while there is none (not sent yet, or skipped), their failover intent by the original's id.
    One read each, for those alone."""
    listed = {r.message_id: r for r in records}
    found = Linked({}, {})
    for r in records:
        fid = r.fallback_message_id
        fallback = (listed.get(fid) or store.get(fid)) if fid else None
        if fid and fallback is not None:
            found.fallbacks[fid] = fallback
        elif r.failover_mode == "api" and r.status is Status.FAILED:
            intent = store.intent(r.message_id)
            if intent is not None:
                found.intents[r.message_id] = intent
    return found


def note(out: Output, r: Record, linked: Linked, now: int) -> str | None:
    """What the status alone does not say: the SMS an AlimTalk fell back to (or why it has not),
    why a message failed, and where and until when a scheduled one is held."""
    parts = []
    until = (iso(r.scheduled_at) if out.json_mode else out.time(r.scheduled_at)) or ""
    fallback = linked.fallbacks.get(r.fallback_message_id or "")
    intent = linked.intents.get(r.message_id)
    if fallback is not None:
        parts.append(f"{fallback.type.value} sent instead: {_status_text(fallback)}")
    elif intent is not None:
        error = f" ({intent.error})" if intent.error else ""
        parts.append(f"SMS fallback {intent.state}{error}")
    if r.fallback_of:
        parts.append("fallback of an AlimTalk")
    if r.send_state is SendState.PLANNED and r.scheduled_at:
        job = f" (job {r.job_id})" if r.job_id else ""
        parts.append(f"held in kmsg's queue until {until}{job}")
    elif r.scheduled_at and r.scheduled_at > now and not r.status.terminal:
        parts.append(f"held by {r.provider_id} until {until}")
    why = reason(r)
    if why:
        parts.append(why)
    return "; ".join(parts) or None


def reason(r: Record) -> str | None:
    """Why a message failed, did not leave, or has no known outcome: the provider's status
    message and code, or kmsg's own error."""
    error = r.last_error or {}
    provider = (r.provider_status_message, r.provider_status_code)
    own = (error.get("message"), error.get("code"))
    if r.status is Status.UNKNOWN or r.send_state in _NOT_ACCEPTED:
        order = (own, provider)
    elif r.status is Status.FAILED:
        order = (provider, own)
    else:
        return None
    for message, code in order:
        if message or code:
            message, code = str(message or ""), str(code or "")
            return (
                f"{message} ({code})"
                if message and code and code not in message
                else message or code
            )
    return None


_NOT_ACCEPTED = frozenset(
    {SendState.REFUSED, SendState.REJECTED, SendState.UNKNOWN, SendState.IN_FLIGHT}
)


def job_filter(store: Store, name: str) -> str:
    """``--job``: a campaign or queue job that has messages, or a campaign by its unique id
    prefix; else exit 66 (65 when the prefix is ambiguous)."""
    if store.list_records(job=name, limit=1) or store.get_job(name) is not None:
        return name
    return campaign_id(store, name, noun="campaign or job")


def campaign_id(store: Store, prefix: str, *, noun: str = "campaign") -> str:
    """A send-bulk campaign by its id or a unique prefix of it (git style): exit 66 when none
    matches, 65 listing the candidates when several do."""
    if store.campaign(prefix) is not None:
        return prefix
    matches = store.find_campaigns(prefix, limit=AMBIGUOUS_SHOWN + 1)
    if len(matches) == 1:
        return matches[0].id
    if not matches:
        raise InputFileError(
            f"no {noun} {prefix!r}", hint="`kmsg send-bulk --list` lists the campaigns"
        )
    shown = [m.id for m in matches[:AMBIGUOUS_SHOWN]]
    more = " …" if len(matches) > AMBIGUOUS_SHOWN else ""
    raise InputError(
        f"campaign id {prefix!r} is ambiguous; candidates: {', '.join(shown)}{more}",
        hint="type more characters of the id",
    )


def _valid_status(value: str) -> bool:
    try:
        Status(value.upper())
    except ValueError:
        raise InputError(
            f"unknown status {value!r}: use one of {', '.join(s.value for s in Status)}"
        ) from None
    return True


def _status_text(r: Record) -> str:
    if r.send_state is SendState.UNKNOWN and not r.status.terminal:
        return f"{r.status.value} (outcome unknown)"
    if r.send_state is SendState.IN_FLIGHT:
        return "IN FLIGHT"
    if r.send_state is SendState.PLANNED:
        return "QUEUED"
    return r.status.value


def _one(
    out: Output, store: Store, message_id: str, now: int, error: KmsgError | None = None
) -> None:
    record = resolve(store, message_id)
    history = store.history(record.message_id)
    doc: dict[str, Any] = {
        "message": {
            **record_doc(out, record),
            "note": note(out, record, _linked(store, [record]), now),
        },
        "history": [
            {
                "at": h.at,
                "status": h.status.value if h.status else None,
                "code": h.code,
                "message": h.message,
                "source": h.source,
            }
            for h in history
        ],
        "failover": failover_doc(store, record),
        "hooks": [  # its delivery events (docs/hooks.md), when [hooks] was configured
            {
                "event_id": e.event_id,
                "target": e.target,
                "state": e.state,
                "attempts": e.attempts,
                "delivered_at": e.delivered_at,
                "last_error": e.last_error,
            }
            for e in store.hook_events(message_id=record.message_id)
        ],
    }

    def human(console: Console) -> None:
        if out.prose():  # piped: the history rows alone (the message's fields are in --json)
            out.table(
                ("key", "status"),  # "status" colours the value of the status row
                [
                    (key, kst(value) if key.endswith("_at") and type(value) is int else value)
                    for key, value in doc["message"].items()
                    if value not in (None, "", {}, [])
                ],
                header=False,
            )
        out.table(
            ("at", "status", "code", "message", "source"),
            [
                (
                    out.time(h.at),
                    h.status.value if h.status else "-",
                    h.code or "",
                    h.message or "",
                    h.source,
                )
                for h in history
            ],
            title="history",
        )
        if out.prose():
            for line in _failover_lines(doc["failover"]):
                console.print(line, markup=False)
            for e in doc["hooks"]:
                why = (
                    f" ({e['last_error']})" if e["last_error"] and e["state"] != "delivered" else ""
                )
                console.print(
                    f"hook {e['target']}: {e['event_id']} {e['state']}, "
                    f"{e['attempts']} attempt(s){why}",
                    markup=False,
                )

    if error is not None and out.json_mode:
        out.fail(error, doc)
        return
    out.emit(doc, human, data=True)
    if error is not None:
        out.fail(error)


def short_ids(out: Output, store: Store, ids: list[str]) -> dict[str, str]:
    """What an id column shows: the shortest unique prefix in a table people read, the full id in
    tsv/csv (scripts keep whole ids)."""
    if out.table_format() != "table":
        return {mid: mid for mid in ids}
    return store.short_ids(ids)


def resolve(store: Store, prefix: str) -> Record:
    """An id or a unique prefix of one (git style). The exact id wins; a prefix matching only an
    original and its ``:api-fallback`` sibling means the original. Else exit 65 naming them."""
    record = store.get(prefix)
    if record is not None:
        return record
    base_prefix, sep, rest = prefix.partition(":")
    if sep and base_prefix:  # "0193abc:api-fallback", as tables show a fallback
        prefix = resolve(store, base_prefix).message_id + sep + rest
        record = store.get(prefix)
        if record is not None:
            return record
    matches = store.find_prefix(prefix, limit=AMBIGUOUS_SHOWN + 1)
    bases = {m.message_id.partition(":")[0] for m in matches}
    if len(bases) == 1 and len(matches) > 1:
        base = store.get(bases.pop())
        if base is not None:
            return base
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"no message matches id {prefix!r}")
    shown = [m.message_id for m in matches[:AMBIGUOUS_SHOWN]]
    more = " …" if len(matches) > AMBIGUOUS_SHOWN else ""
    raise InputError(
        f"id {prefix!r} is ambiguous; candidates: {', '.join(shown)}{more}",
        hint="type more characters of the id",
    )


def failover_doc(store: Store, record: Record) -> dict[str, Any] | None:
    """Both directions of an API failover (FO-9): the intent and fallback of an original, or the
    original of a fallback, each with its current status."""
    intent = store.intent(record.message_id)
    if record.failover_mode is None and intent is None and record.fallback_of is None:
        return None
    doc: dict[str, Any] = {"mode": record.failover_mode}
    if intent is not None:
        doc["intent"] = {
            "state": intent.state,
            "error": intent.error,
            "updated_at": intent.updated_at,
        }
    for key, linked_id in (
        ("fallback", record.fallback_message_id or (intent.fallback_id if intent else None)),
        ("original", record.fallback_of),
    ):
        linked = store.get(linked_id) if linked_id else None
        if linked is not None:
            doc[key] = {
                "message_id": linked.message_id,
                "type": linked.type.value,
                "status": _status_text(linked),
            }
    return doc


def _failover_lines(doc: dict[str, Any] | None) -> list[str]:
    if not doc:
        return []
    lines = []
    if doc.get("mode"):
        lines.append(f"failover: {doc['mode']}")
    if "intent" in doc:
        note = f" ({doc['intent']['error']})" if doc["intent"]["error"] else ""
        lines.append(f"failover intent: {doc['intent']['state']}{note}")
    for key, label in (("fallback", "fallback message"), ("original", "fallback of")):
        if key in doc:
            linked = doc[key]
            lines.append(f"{label}: {linked['message_id']} {linked['type']} {linked['status']}")
    return lines


def record_doc(out: Output, r: Record) -> dict[str, Any]:
    return {
        "message_id": r.message_id,
        "type": r.type.value,
        "to": out.phone(r.to),
        "from": r.sender or None,  # the sender's own number: never masked
        "provider": r.provider_id,
        "provider_message_id": r.provider_message_id or None,
        "status": r.status.value,
        "send_state": r.send_state,
        "provider_status_code": r.provider_status_code,
        "provider_status_message": r.provider_status_message,
        "requested_at": r.requested_at,
        "scheduled_at": r.scheduled_at,
        "sent_at": r.sent_at,
        "delivered_at": r.delivered_at,
        "failed_at": r.failed_at,
        "attempt_count": r.attempt_count,
        "next_check_at": None if r.status.terminal else r.next_check_at,
        "last_error": r.last_error,
        "idempotency_key": r.idempotency_key,
        "attempt": r.attempt,
        "provider_clock_offset_ms": r.provider_clock_offset_ms,
        "failover_mode": r.failover_mode,
        "fallback_message_id": r.fallback_message_id,
        "fallback_of": r.fallback_of,
        "job_id": r.job_id,
    }
