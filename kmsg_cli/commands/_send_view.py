"""What `kmsg send` shows: the dry run (the plan and the provider requests it would make, numbers
masked) and the outcome of each message, one row each, with one error for a failed send."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kmsg_cli.core.times import kst
from kmsg_cli.errors import ExitCode, Failed, KmsgError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.core.service import Outcome, Planned
    from kmsg_cli.output import Output


def show_dry_run(app_ctx: AppContext, planned: list[Planned]) -> int:
    out = app_ctx.output
    by_provider: dict[str, list[Planned]] = {}
    for item in planned:
        by_provider.setdefault(item.route[0], []).append(item)
    requests = []
    for pid, items in by_provider.items():
        requests.extend(app_ctx.provider(pid).preview([i.message for i in items]))
    rows = [_planned_doc(out, item) for item in planned]
    if not out.show_recipients:
        requests = _mask_numbers(requests, [i.message.to for i in planned], out)
    doc = {"dry_run": True, "messages": rows, "requests": requests, "warnings": []}

    def human(console: Console) -> None:
        from rich.table import Table

        table = Table(
            "to", "type", "bytes", "provider", "route", "cost", title="dry run: nothing sent"
        )
        for row in rows:
            cost = row["cost"]
            table.add_row(
                row["to"],
                row["type"],
                str(row["bytes"]),
                row["provider"],
                row["reason"],
                "-" if cost is None else f"{cost:g} KRW",
            )
        console.print(table)
        for body in dict.fromkeys(r["text"] for r in rows if r["type"] == "ALIMTALK"):
            console.print(f"AlimTalk text:\n{body}", markup=False, highlight=False)
        console.print_json(json.dumps(requests, ensure_ascii=False))

    out.emit(doc, human)
    return 0


def _planned_doc(out: Output, item: Planned) -> dict[str, Any]:
    m = item.message
    return {
        "to": out.phone(m.to),
        "type": m.type.value,
        "bytes": item.bytes,
        "provider": item.route[0],
        "route": list(item.route),
        "reason": item.reason,
        "from": m.sender or "-",  # the sender's own number: never masked
        "failover": m.failover_mode,
        "cost": item.cost,
        "text": m.text,  # rendered: an AlimTalk's registered template with its variables
        "warnings": list(item.warnings),
    }


def _mask_numbers(
    requests: list[dict[str, Any]], numbers: list[str], out: Output
) -> list[dict[str, Any]]:
    text = json.dumps(requests, ensure_ascii=False)
    for number in numbers:
        text = text.replace(number, out.phone(number))
    result: list[dict[str, Any]] = json.loads(text)
    return result


def show_outcomes(
    out: Output,
    outcomes: list[Outcome],
    code: int,
    shorten: Callable[[list[str]], dict[str, str]] | None = None,
) -> None:
    rows = [outcome_doc(out, o) for o in outcomes]
    accepted = sum(1 for o in outcomes if o.state in ("accepted", "duplicate", "queued"))
    doc = {
        "messages": rows,
        "accepted": accepted,
        "failed": len(outcomes) - accepted,
        "warnings": [],  # Output adds this command's warnings (those stderr shows without --json)
    }
    failed = [
        (o, row)
        for o, row in zip(outcomes, rows, strict=True)
        if o.state in ("rejected", "unknown", "suppressed")
    ]
    if out.json_mode:
        if code == 0:
            out.emit(doc)
        else:
            out.fail(_first_error(failed), doc, exit_code=code)
        return

    def human(_console: Console) -> None:
        ids = [r["message_id"] for r in rows]
        # people read the shortest unique prefix (`kmsg status PREFIX`); tsv/csv keep whole ids
        short = shorten([i for i in ids if i]) if shorten and out.table_format() == "table" else {}
        out.table(
            ("id", "to", "type", "provider", "result"),
            [
                (short.get(r["message_id"], r["message_id"]), r["to"], r["type"], r["provider"])
                + (r["result"],)
                for r in rows
            ],
        )

    out.emit(doc, human, ids=[row["message_id"] for row in rows])
    for _o, row in failed:
        out.error(f"{row['to']}: {row['result']}")
    error = next((o.error for o, _ in failed if o.error and o.error.hint), None)
    if error is not None:
        out.error(f"hint: {error.hint}", prefix=False)


def _first_error(failed: list[tuple[Outcome, dict[str, Any]]]) -> KmsgError:
    errors = [o.error for o, _ in failed if o.error is not None]
    if errors:
        return errors[0]
    state = failed[0][0].state
    return Failed(
        f"{failed[0][1]['to']}: {failed[0][1]['result']}"
        + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
        exit_code=ExitCode.TEMPFAIL if state == "unknown" else ExitCode.FAILED,
        code={"unknown": "unsettled", "suppressed": "suppressed"}.get(state, "rejected"),
    )


def outcome_doc(out: Output, o: Outcome) -> dict[str, Any]:
    r = o.result
    if o.state == "queued" and o.job is not None:
        mid = o.job.id
        result = f"QUEUED, not sent yet: job {o.job.id} at {kst(o.job.process_at)}"
    elif o.state == "queued" and o.existing is not None:
        mid = o.existing.job_id or o.existing.message_id
        at = o.existing.scheduled_at
        when = f" at {kst(at)}" if at else ""
        result = f"QUEUED already (same idempotency key): job {mid}{when}, not sent yet"
    elif o.state == "duplicate" and o.existing is not None:
        result = f"already sent as {o.existing.message_id} (same idempotency key)"
        mid = o.existing.message_id
    else:
        mid = o.message.message_id
        if o.state == "accepted" and r is not None:
            result = r.status.value
        elif o.state == "unknown" and o.existing is not None:
            mid = o.existing.message_id
            result = "UNKNOWN OUTCOME of an earlier attempt: not sent again until it is settled"
        elif o.state == "unknown":
            result = "UNKNOWN OUTCOME: may have been sent; `kmsg track` reconciles"
        elif o.state == "suppressed":
            result = "NOT SENT: on the suppression list (kmsg suppress list)"
        else:
            reason = o.error.message if o.error else (r.error if r else "")
            code = r.code if r and r.code else (o.error.code if o.error else "")
            result = f"FAILED {code}: {reason}".strip()
    return {
        "message_id": mid,
        "to": out.phone(o.message.to),
        "type": o.message.type.value,
        "provider": o.provider_id,
        "state": o.state,
        "status": r.status.value if r else None,
        "provider_message_id": r.provider_message_id if r else None,
        "code": r.code if r else (o.error.code if o.error else None),
        "result": result,
    }
