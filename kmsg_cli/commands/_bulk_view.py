"""What `kmsg send-bulk` shows: the preview summary, the dry-run rows, the running tally."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from kmsg_cli.commands._bulk_io import Report
from kmsg_cli.core import campaign
from kmsg_cli.core.bulk import Summary
from kmsg_cli.core.times import kst
from kmsg_cli.errors import KmsgError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.core.service import Planned
    from kmsg_cli.output import Output

SHOWN_ERRORS = 20  # rows named on stderr; the rest are in --report
_State = campaign.RowState
_PROBLEMS = frozenset({_State.FAILED, _State.INVALID, _State.SUPPRESSED})  # named on stderr
_FINE = frozenset({_State.ACCEPTED, _State.ALREADY_SENT, _State.DUPLICATE, _State.QUEUED})


class Tally:
    """Counts per final state, and the first few problem rows named on stderr."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.counts: Counter[str] = Counter()
        self.rows = 0
        self.shown = 0
        self.fatal: int | None = None  # 77/78: the provider cannot be used; stop sending
        self.done = False  # every row reached a final state (nothing left to settle or send)

    def add(self, results: list[campaign.RowResult], out: Output) -> None:
        self.report.add(results)
        self.rows += len(results)
        states = [r.state for r in results]
        self.counts.update(states)
        if _FINE.issuperset(states):  # the common chunk: nothing to name, nothing fatal
            return
        for r in results:
            self.fatal = self.fatal or r.fatal
            # --json keeps stderr for what is fatal: the document counts them, --report names them
            if r.state in _PROBLEMS and not out.json_mode:
                self.shown += 1
                if self.shown <= SHOWN_ERRORS:
                    out.error(f"row {r.row} ({out.phone(r.to)}): {r.state}: {r.error}")
                elif self.shown == SHOWN_ERRORS + 1:
                    out.error("more problem rows: see --report", prefix=True)

    def line(self) -> str:
        return ", ".join(
            f"{self.counts[s]:,} {s.replace('_', ' ')}" for s in campaign.STATES if self.counts[s]
        )


def show_summary(console: Console, job_id: str, s: Summary, at: int | None = None) -> None:
    """The preview: rows, what an earlier run sent, and what this one would send (or hold in the
    queue until ``at``, send-bulk --at), with its cost."""
    providers = ", ".join(f"{n:,} via {p}" for p, n in s.providers.most_common())
    line = f"job {job_id}: {s.rows:,} rows: {s.valid:,} valid, {s.invalid:,} invalid"
    console.print(line, markup=False)
    if s.sent_before:
        console.print(f"  already sent by an earlier run: {s.sent_before:,} (not sent again)")
    if not s.to_send:
        console.print("  nothing left to send", markup=False)
        return
    what = f"to hold in the queue until {kst(at)}" if at else "to send"
    console.print(
        f"  {what}: {s.to_send:,} ({types_text(s)}; {providers}); {cost_text(s)}", markup=False
    )


def warned_text(s: Summary) -> str:
    """The preview's one line for valid rows with a warning: the first, and how many."""
    assert s.first_warning is not None
    row, text = s.first_warning
    others = s.warned - 1
    more = f" ({others:,} more row{'s' if others > 1 else ''} with a warning)" if others else ""
    return f"row {row}: {text}{more}"


def messages(n: int) -> str:
    return f"{n:,} message" + ("" if n == 1 else "s")


def types_text(s: Summary) -> str:
    return ", ".join(f"{n:,} {t}" for t, n in s.types.most_common())


def cost_text(s: Summary) -> str:
    """What the rows to send would cost, from [prices]; says which types have no price."""
    cost = f"{s.cost:,.2f}".rstrip("0").rstrip(".")
    unpriced = ", ".join(sorted(s.unpriced))
    if not s.unpriced:
        return f"estimated cost {cost} KRW"
    if s.cost:
        return f"estimated cost {cost} KRW + {unpriced} (no price in [prices])"
    return f"cost unknown: no [prices] for {unpriced}"


class DryRunWriter:
    """Every row as it is checked: a line of text, or one JSON document streamed row by row."""

    def __init__(self, out: Output, job_id: str) -> None:
        self.out, self.job_id, self.first = out, job_id, True
        if out.json_mode:
            out.write(
                f'{{"schema_version": 1, "dry_run": true, "job": {json.dumps(job_id)}, "rows": ['
            )

    def invalid(self, row: int, to: str, error: KmsgError) -> None:
        self.row({"row": row, "to": self.out.phone(to), "valid": False, "error": error.message})

    def valid(self, row: int, plan: Planned) -> None:
        m = plan.message
        self.row(
            {
                "row": row,
                "to": self.out.phone(m.to),
                "valid": True,
                "type": m.type.value,
                "bytes": plan.bytes,
                "provider": plan.route[0],
                "cost": plan.cost,
                "text": m.text,
                "warnings": list(plan.warnings),
            }
        )

    def row(self, doc: dict[str, Any]) -> None:
        out = self.out
        if out.json_mode:
            out.write(("" if self.first else ", ") + json.dumps(doc, ensure_ascii=False))
        elif doc["valid"]:
            cost = "-" if doc["cost"] is None else f"{doc['cost']:g}"
            out.write(
                f"{doc['row']:>7}  {doc['to']:<13}  {doc['type']:<8} {doc['bytes']:>5}B  "
                f"{doc['provider']:<10} {cost:>6}  {doc['text'][:40]!r}\n"
            )
        else:
            out.write(f"{doc['row']:>7}  {doc['to']:<13}  INVALID  {doc['error']}\n")
        self.first = False

    def close(self, s: Summary, error: KmsgError | None, code: int = 0) -> None:
        totals = {
            "rows": s.rows,
            "valid": s.valid,
            "invalid": s.invalid,
            "types": dict(s.types),
            "providers": dict(s.providers),
            "bytes": s.bytes,
            "cost": None if s.unpriced else s.cost,
        }
        out = self.out
        if out.json_mode:
            tail: dict[str, Any] = {"summary": totals, "ok": error is None and code == 0}
            tail["warnings"] = list(out.warnings)  # in every document, [] when none
            if error is not None:
                tail |= {"error": error.to_dict(), "exit_code": error.exit_code}
            elif code:
                tail |= {"exit_code": code}
            out.write("], " + json.dumps(tail, ensure_ascii=False)[1:] + "\n")
            return
        if error is not None:
            out.fail(error)
            return
        show_summary(out.console(), self.job_id, s)
        out.write("dry run: nothing sent\n")
