"""Campaign rows held in the local queue instead of sent now: `send-bulk --at` and `--defer`.

A row whose time is later is held like `kmsg send --at` holds a message (core/queue.py ``hold``):
its planned attempt under the row's key and the queue job that will send it, in one transaction.
The ledger decides as for any row: a row held (or accepted) by an earlier run is not held again,
so a rerun, with or without another --at, never holds or sends a row twice
(docs/reliability.md#the-one-decision). Rows due now go on to be sent as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from kmsg_cli.core import korea, queue
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.core.campaign import Item, RowResult, RowState
from kmsg_cli.core.models import Message
from kmsg_cli.core.ports import Env
from kmsg_cli.core.service import DUPLICATE, QUEUED, Planned
from kmsg_cli.core.times import kst
from kmsg_cli.errors import KmsgError, TemporaryError


def send_time(message: Message, spec: Spec, now: int) -> int | None:
    """When a row goes out: None for now, else the time it is held until. An advertising row due
    in the 21:00-08:00 KST ban is held for 08:00 with --defer (refused without it: check_ads)."""
    if message.ad:
        kakao = korea.kakao_ad(message.type)
        at, _deferred = korea.ad_send_time(now, spec.at, defer=spec.defer, kakao=kakao)
        return at
    return spec.at


def check_ads(summary: Summary, spec: Spec, now: int) -> None:
    """Advertising rows due in the night ban refuse the whole run (75) unless --defer holds them."""
    if not summary.ads:
        return
    kakao = any(korea.kakao_ad(t) for t in summary.types)
    try:
        korea.ad_send_time(now, spec.at, defer=spec.defer, kakao=kakao)
    except TemporaryError as exc:
        exc.hint = (
            "pass --defer to hold them in the queue for 08:00 KST, or rerun from 08:00 KST "
            "(the same command sends what is left)"
        )
        raise


@dataclass
class Holder:
    """Takes the rows due later out of a campaign's stream and holds them, one queue job each."""

    env: Env
    spec: Spec
    campaign_id: str
    run_id: str
    emit: Callable[[list[RowResult]], None]
    stop: Callable[[], bool]
    stopped: bool = False

    def split(self, items: Iterable[Item]) -> Iterator[Item]:
        """The rows to send now; the others are held (and reported) as they pass."""
        now = self.env.clock.now_ms()
        for item in items:
            row, _to, plan = item
            at = None if isinstance(plan, KmsgError) else send_time(plan.message, self.spec, now)
            if at is None:
                yield item
                continue
            if self.stop():
                self.stopped = True
                return
            assert not isinstance(plan, KmsgError)
            self.emit([self.hold(row, plan, at)])

    def hold(self, row: int, plan: Planned, at: int) -> RowResult:
        m = plan.message
        assert plan.draft is not None  # service.plan_one keeps it
        draft = replace(
            plan.draft,
            metadata={**plan.draft.metadata, "campaign": self.campaign_id, "row": row},
        )
        reason = "advertising deferred to 08:00 KST" if at != self.spec.at else "scheduled"
        store = self.env.store()
        (outcome,) = queue.hold([plan], draft, at, self.env, store, reason=reason)
        earlier = outcome.existing
        if outcome.state == QUEUED and outcome.job is not None:
            note = f"held until {kst(at)} as queue job {outcome.job.id}"
            return RowResult(row, m.to, RowState.QUEUED, plan.route[0], m.message_id, note)
        if outcome.state == QUEUED and earlier is not None:
            if earlier.metadata.get("run") == self.run_id:
                note = "same message as another row of this run"
                state = RowState.DUPLICATE
            else:
                note = f"held by an earlier run as queue job {earlier.job_id}"
                state = RowState.QUEUED
            return RowResult(row, m.to, state, earlier.provider_id, earlier.message_id, note)
        if outcome.state == DUPLICATE and earlier is not None:
            note = "sent by an earlier run"
            state = RowState.ALREADY_SENT
            return RowResult(row, m.to, state, earlier.provider_id, earlier.message_id, note)
        error = outcome.error.message if outcome.error else "not settled"
        mid = earlier.message_id if earlier else m.message_id
        return RowResult(row, m.to, RowState.UNKNOWN, plan.route[0], mid, error)
