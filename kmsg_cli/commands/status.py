"""`kmsg status`: what happened — a summary, or one message with its history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli.commands._common import app_context, command
from kmsg_cli.core import phone
from kmsg_cli.core.models import MessageType, Record, SendState, Status
from kmsg_cli.core.times import duration_ms, kst
from kmsg_cli.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.output import Output
    from kmsg_cli.store import Store


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
        str,
        typer.Option("--since", metavar="DURATION", help="Window for the summary: 30m, 24h, 7d."),
    ] = "24h",
    status_: Annotated[
        str | None, typer.Option("--status", metavar="STATUS", help="Only this status.")
    ] = None,
    type_: Annotated[
        str | None, typer.Option("--type", metavar="TYPE", help="Only this message type.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", metavar="ID", help="Only this provider id.")
    ] = None,
    job: Annotated[
        str | None, typer.Option("--job", metavar="ID", help="Only this campaign (send-bulk job).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", metavar="NUMBER[,NUMBER]", help="Only this recipient.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Messages to list.")
    ] = 20,
) -> None:
    """Show counts by status, type and provider, the latest messages, or one message in full.

    Example: kmsg status --since 7d --status FAILED
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    store = app_ctx.store(existing=True)
    if message_id:
        _one(out, store, message_id)
        return
    filters = {
        "status": Status(status_.upper()).value if status_ and _valid_status(status_) else None,
        "type": MessageType.parse(type_).value if type_ else None,
        "provider": provider,
        "job": job,
        "to": phone.normalize(to) if to else None,
    }
    start = app_ctx.clock.now_ms() - duration_ms(since)
    counts = {
        key: dict(store.counts(key, since=start, **filters))
        for key in ("status", "type", "provider")
    }
    records = store.list_records(since=start, limit=limit, **filters)
    doc = {"since": since, "counts": counts, "messages": [record_doc(out, r) for r in records]}

    def human(console: Console) -> None:
        total = sum(counts["status"].values())
        if out.prose():  # piped: the message rows alone (the counts are in --json)
            console.print(f"{total} message(s) in the last {since}", markup=False)
            if total:
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
                ("id", "requested", "to", "type", "provider", "status"),
                [
                    (
                        short[r.message_id],
                        out.time(r.requested_at),
                        out.phone(r.to),
                        r.type.value,
                        r.provider_id,
                        _status_text(r),
                    )
                    for r in records
                ],
            )

    out.emit(doc, human, data=True)


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
        return f"QUEUED (job {r.job_id})" if r.job_id else "QUEUED"
    return r.status.value


def _one(out: Output, store: Store, message_id: str) -> None:
    record = resolve(store, message_id)
    history = store.history(record.message_id)
    doc: dict[str, Any] = {
        "message": record_doc(out, record),
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

    out.emit(doc, human, data=True)


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
