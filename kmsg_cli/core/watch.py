"""Follow messages to a final state (`kmsg status ID --watch`, `kmsg send --wait`): the tracking
pass's own steps for just these records, every ``interval`` until each is final or ``timeout``.

Each round claims a followed record whatever its schedule (leased like any claim, so a running
`kmsg track` never checks it at the same time), asks its provider, records the answer (with its
delivery event), runs the failovers that are due, and calls ``after_round`` (hook delivery). An
AlimTalk that fails over is followed on to its fallback SMS/LMS: the answer is the fallback's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kmsg_cli.core.failover import run_failovers
from kmsg_cli.core.models import Record, Status
from kmsg_cli.core.ports import Env
from kmsg_cli.core.track import PassSummary, TrackOptions, TrackStore, check_records
from kmsg_cli.core.track_rules import PENDING, SENDING, SENT
from kmsg_cli.errors import AuthError, ConfigError


class WatchStore(TrackStore, Protocol):
    def claim_one(
        self, owner: str, message_id: str, now: int, lease_until: int
    ) -> Record | None: ...

    def intent(self, original_id: str) -> Any: ...


@dataclass(frozen=True)
class Followed:
    message_id: str  # the message asked about
    record: Record | None  # where it ended: itself, or its fallback; None if it is not recorded

    @property
    def final(self) -> bool:
        return self.record is not None and self.record.status.terminal


def follow(
    env: Env,
    store: WatchStore,
    message_ids: Sequence[str],
    opts: TrackOptions,
    *,
    interval_s: float,
    timeout_s: float,
    after_round: Callable[[], object] = lambda: None,
    on_change: Callable[[Followed], None] = lambda _f: None,
) -> list[Followed]:
    """Each message's last known record, once all are final or the timeout passed."""
    deadline = env.clock.now_ms() + int(timeout_s * 1000)
    current = {mid: mid for mid in message_ids}  # asked -> followed (itself or its fallback)
    seen: dict[str, tuple[str, Status] | None] = {}
    last = False  # the round at the deadline was done: report
    while True:
        states = [_where(store, asked, current) for asked in message_ids]
        for f in states:
            key = (f.record.message_id, f.record.status) if f.record else None
            if seen.get(f.message_id, ()) != key:
                seen[f.message_id] = key
                on_change(f)
        open_ids = [current[f.message_id] for f in states if not _done(store, f)]
        if not open_ids or last:
            return states
        _round(env, store, open_ids, opts)
        after_round()
        now = env.clock.now_ms()
        last = now >= deadline
        if not last and not all(_done(store, _where(store, a, current)) for a in message_ids):
            env.clock.sleep(min(interval_s, (deadline - now) / 1000))


def _where(store: WatchStore, asked: str, current: dict[str, str]) -> Followed:
    """The followed record; a failed original whose fallback went out hands over to it."""
    record = store.get(current[asked])
    if record is not None and record.status is Status.FAILED:
        fallback = record.fallback_message_id
        intent = store.intent(record.message_id) if fallback is None else None
        if intent is not None and intent.state == SENT:
            fallback = intent.fallback_id
        found = store.get(fallback) if fallback else None
        if found is not None:
            current[asked] = found.message_id
            record = found
    return Followed(asked, record)


def _done(store: WatchStore, f: Followed) -> bool:
    if f.record is None:
        return True
    if not f.record.status.terminal:
        return False
    intent = store.intent(f.record.message_id) if f.record.status is Status.FAILED else None
    return intent is None or intent.state not in (PENDING, SENDING)


def _round(env: Env, store: WatchStore, ids: Sequence[str], opts: TrackOptions) -> None:
    now = env.clock.now_ms()
    claimed = [
        r
        for mid in ids
        if (r := store.claim_one(opts.owner, mid, now, now + opts.lease_s * 1000)) is not None
    ]
    summary = PassSummary()
    if claimed:
        try:
            checks = check_records(claimed, env, opts, summary)
            store.apply_checks(opts.owner, checks, env.clock.now_ms())
        finally:
            store.release(opts.owner, [r.message_id for r in claimed])
    for e in summary.errors:  # a person must act (TRK-10); anything else is asked again
        if isinstance(e.error, AuthError | ConfigError):
            raise e.error
    run_failovers(env, store, opts.owner, lease_s=opts.lease_s, limit=len(ids))
