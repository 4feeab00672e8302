"""One message as `kmsg status ID` shows it (its fields, history, failover and hook events), and
the note column of the summary: what the status alone does not say."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from kmsg_cli.commands._ids import resolve
from kmsg_cli.core.models import Record, SendState, Status
from kmsg_cli.core.times import iso, kst

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.errors import KmsgError
    from kmsg_cli.output import Output
    from kmsg_cli.store import Store
    from kmsg_cli.store.track import Intent


class Linked(NamedTuple):
    fallbacks: dict[str, Record]  # by the fallback's id
    intents: dict[str, Intent]  # by the original's id, while it has no fallback message


def linked_records(store: Store, records: list[Record]) -> Linked:
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
        parts.append(f"{fallback.type.value} sent instead: {status_text(fallback)}")
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


def status_text(r: Record) -> str:
    if r.send_state is SendState.UNKNOWN and not r.status.terminal:
        return f"{r.status.value} (outcome unknown)"
    if r.send_state is SendState.IN_FLIGHT:
        return "IN FLIGHT"
    if r.send_state is SendState.PLANNED:
        return "QUEUED"
    return r.status.value


def show_one(
    out: Output, store: Store, message_id: str, now: int, error: KmsgError | None = None
) -> None:
    record = resolve(store, message_id)
    history = store.history(record.message_id)
    doc: dict[str, Any] = {
        "message": {
            **record_doc(out, record),
            "note": note(out, record, linked_records(store, [record]), now),
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
                "status": status_text(linked),
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
