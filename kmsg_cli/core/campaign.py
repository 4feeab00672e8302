"""The bulk use case: stream rows into provider-sized chunks and send each through
``service.execute`` (the ledger, then the call, per-row results), a bounded number of chunks in flight,
paced to ``rate``, stopping between chunks (BULK-2, BULK-5, BULK-10).

Rows arrive one at a time and leave as soon as their chunk is answered, so memory holds at most
``concurrency`` chunks whatever the size of the file. Every row ends in exactly one state, so the
counts always add up (BULK-7).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from kmsg_cli.core import service
from kmsg_cli.core.bulk import row_key
from kmsg_cli.core.models import evolve
from kmsg_cli.core.ports import Env
from kmsg_cli.core.service import Outcome, Planned
from kmsg_cli.core.settle import Settled, ready, settle
from kmsg_cli.errors import ExitCode, KmsgError

CHUNK = 1000  # rows per provider call at most: bounds what a crash can leave in flight


class RowState(StrEnum):
    """Where each campaign row ends (the report's ``status``): exactly one per row."""

    ACCEPTED = "accepted"
    ALREADY_SENT = "already_sent"  # accepted by an earlier run
    DUPLICATE = "duplicate"  # the same message as another row of this run
    FAILED = "failed"  # rejected or refused: a rerun retries it
    INVALID = "invalid"
    SUPPRESSED = "suppressed"
    UNKNOWN = "unknown"  # may have been sent: settled before anything is sent again
    QUEUED = "queued"  # held in the local queue until its time (--at, --defer): sent by the queue


STATES = tuple(RowState)
# a chunk failed for these reasons (auth, configuration, the database itself) fails every later
# chunk the same way: the campaign stops
STOPPING = frozenset({ExitCode.NOPERM, ExitCode.CONFIG, ExitCode.IOERR})


@dataclass(frozen=True)
class RowResult:
    row: int
    to: str
    state: RowState
    provider_id: str | None = None
    message_id: str | None = None
    error: str | None = None
    # set when the whole provider call failed in a way no later chunk can escape (77 auth, 78
    # config): the caller stops instead of failing every remaining row the same way
    fatal: int | None = None


Item = tuple[int, str, "Planned | KmsgError"]  # (row number, recipient as written, plan or why not)


def locked(env: Env) -> Env:
    """The same Env with every store call serialized, for worker threads sharing one store."""
    guard = _Locked(env.store(), threading.Lock())
    return replace(env, store=lambda: guard)


class _Locked:
    def __init__(self, target: Any, lock: threading.Lock) -> None:
        self._target, self._lock = target, lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def prepare(planned: Planned, job_id: str, row: int, run_id: str) -> Planned:
    """Key the row for its job; note its row and run (to tell a repeated row from an earlier run)."""
    m = planned.message
    return evolve(
        planned,
        message=evolve(
            m,
            idempotency_key=row_key(job_id, m),
            job_id=job_id,
            metadata={**m.metadata, "row": row, "run": run_id},
        ),
    )


def send_rows(
    items: Iterable[Item],
    env: Env,
    *,
    emit: Callable[[list[RowResult]], None],
    stop: Callable[[], bool],
    concurrency: int = 4,
    rate: float | None = None,
) -> bool:
    """Send every valid row; report each row once through ``emit`` (from this thread).
    Returns True when it stopped early (``stop()`` before the last chunk started), with every
    chunk it started settled."""
    pace = _Pacer(env, rate)
    inflight: set[Future[list[RowResult]]] = set()
    stopped = False

    def settle(block: bool) -> None:
        if not inflight:
            return
        done, _ = wait(inflight, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            inflight.discard(future)
            emit(future.result())

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for chunk in _chunks(items, env, emit, rate):
            while len(inflight) >= max(1, concurrency):
                settle(block=True)
            pace.wait(len(chunk))
            if stop():  # checked last, after any wait: nothing new starts once asked to stop
                stopped = True
                break
            inflight.add(pool.submit(_send, chunk, env))
            settle(block=False)
        while inflight:
            settle(block=True)
    return stopped


def _chunks(
    items: Iterable[Item],
    env: Env,
    emit: Callable[[list[RowResult]], None],
    rate: float | None,
) -> Iterator[list[tuple[int, Planned]]]:
    """Group valid rows by route into chunks; report invalid rows, and a row identical to one
    already in its chunk, as they pass (an identical row in another chunk meets the ledger)."""
    buffers: dict[tuple[str, ...], dict[str | None, tuple[int, Planned]]] = {}
    sizes: dict[tuple[str, ...], int] = {}  # per route, worked out once
    for row, to, plan in items:
        if isinstance(plan, KmsgError):
            emit([RowResult(row, to, RowState.INVALID, error=plan.message)])
            continue
        buffer = buffers.setdefault(plan.route, {})
        twin = buffer.get(plan.message.idempotency_key)
        if twin is not None:
            m = twin[1].message
            note = f"same message as row {twin[0]}"
            emit([RowResult(row, m.to, RowState.DUPLICATE, plan.route[0], m.message_id, note)])
            continue
        buffer[plan.message.idempotency_key] = (row, plan)
        size = sizes.get(plan.route) or sizes.setdefault(plan.route, _size(plan.route, env, rate))
        if len(buffer) >= size:
            yield list(buffers.pop(plan.route).values())
    for buffer in buffers.values():
        yield list(buffer.values())


def _size(route_ids: Sequence[str], env: Env, rate: float | None) -> int:
    size = min(max(1, env.provider(route_ids[0]).max_batch), CHUNK)
    return min(size, max(1, int(rate))) if rate else size


def _send(chunk: list[tuple[int, Planned]], env: Env) -> list[RowResult]:
    rows = {p.message.message_id: row for row, p in chunk}
    try:
        outcomes = service.execute([p for _, p in chunk], env)
    except KmsgError as exc:  # this provider cannot be used at all (a missing secret, ...)
        fatal = exc.exit_code if exc.exit_code in STOPPING else None
        return [
            RowResult(
                row,
                p.message.to,
                RowState.FAILED,
                p.route[0],
                p.message.message_id,
                exc.message,
                fatal,
            )
            for row, p in chunk
        ]
    return [_result(rows[o.message.message_id], o) for o in outcomes]


def _result(row: int, o: Outcome) -> RowResult:
    m = o.message
    earlier = o.existing
    if o.state == service.DUPLICATE and earlier is not None:
        if earlier.metadata.get("run") == m.metadata.get("run"):  # a repeated row of this file
            state, note = RowState.DUPLICATE, "same message as another row of this run"
        else:
            state, note = RowState.ALREADY_SENT, "sent by an earlier run"
        return RowResult(row, m.to, state, earlier.provider_id, earlier.message_id, note)
    if o.state == service.UNKNOWN and earlier is not None:
        note = "an earlier run's attempt is not settled yet; not sent again"
        return RowResult(row, m.to, RowState.UNKNOWN, earlier.provider_id, earlier.message_id, note)
    state = _ROW_STATE.get(o.state, RowState.UNKNOWN)
    error = None
    if o.error is not None:
        error = o.error.message
    elif o.result is not None and not o.result.accepted:
        error = f"{o.result.code or ''} {o.result.error or ''}".strip()
    if state is RowState.UNKNOWN and not error:
        error = "no answer: `kmsg track` reconciles"
    fatal = o.error.exit_code if o.error is not None and o.error.exit_code in STOPPING else None
    return RowResult(row, m.to, state, o.provider_id, m.message_id, error, fatal)


_ROW_STATE = {
    service.ACCEPTED: RowState.ACCEPTED,
    service.REJECTED: RowState.FAILED,
    service.SUPPRESSED: RowState.SUPPRESSED,
    service.QUEUED: RowState.QUEUED,  # held by a scheduled run of this campaign
}


def reconcile(job_id: str, env: Env) -> Settled:
    """Settle rows an earlier run of this job sent without hearing back (core/settle.py): rows
    the provider has become accepted; rows it provably never got become refused, so this run
    sends them again (exactly once, not at most once); rows it cannot account for, or that are
    too recent to ask about, stay unknown and are not sent. Call only while holding the job (no
    other live run), which is why in-flight rows count as abandoned."""
    store: Any = env.store()
    now = env.clock.now_ms()
    rows = store.unsettled(job_id)
    due = [r for r in rows if ready(r, now, env, owner_gone=True)]
    settled = settle(due, env) if due else Settled()
    settled.unknown += len(rows) - len(due)
    return settled


class _Pacer:
    """At most ``rate`` messages per second, on the injected clock."""

    def __init__(self, env: Env, rate: float | None) -> None:
        self.clock, self.rate = env.clock, rate
        self.next_at: int | None = None

    def wait(self, n: int) -> None:
        if not self.rate:
            return
        now = self.clock.now_ms()
        if self.next_at is not None and self.next_at > now:
            self.clock.sleep((self.next_at - now) / 1000)
            now = self.next_at
        self.next_at = now + int(n * 1000 / self.rate)
