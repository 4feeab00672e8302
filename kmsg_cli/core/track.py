"""The tracking pass: claim due records, ask their providers, record what they say, then run the
ALIMTALK -> SMS/LMS failovers that came out of it (docs/tracking.md#a-tracking-pass).

Order matters for crash safety: status updates and failover intents are committed together first,
claims are released, and only then are fallbacks sent, as their own bounded step (FO-11), through
``service.execute`` so each fallback is written under its deterministic idempotency key before
its provider is called. A pass starts by finishing intents an earlier (crashed) pass left (FO-1).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from kmsg_cli.core import track_rules
from kmsg_cli.core.failover import FailoverStore, run_failovers
from kmsg_cli.core.gcpace import few_collections
from kmsg_cli.core.models import Record, Status, StatusQuery, StatusReport
from kmsg_cli.core.ports import Env, Provider
from kmsg_cli.core.track_rules import Check, Jitter, Rules
from kmsg_cli.errors import AuthError, ConfigError, KmsgError, ProviderError, RateLimited

DEFAULT_LEASE_S = 300  # far longer than a pass holds its records; a killed pass's claims come back
DEFAULT_RETRY_AFTER_S = 60
STATUS_BATCH = 100  # queries per status() call unless the adapter says otherwise
CLAIM_BATCH = 2500  # records claimed, checked and written at a time within one pass


class TrackStore(FailoverStore, Protocol):
    """What the pass needs from the store (kmsg_cli.store.Store satisfies it)."""

    def claim_due(
        self,
        owner: str,
        now: int,
        lease_until: int,
        limit: int,
        *,
        provider: str | None = None,
        everything: bool = False,
        after: str = "",
    ) -> list[Record]: ...

    def release(self, owner: str, message_ids: Sequence[str]) -> None: ...

    def apply_checks(self, owner: str, checks: Sequence[Check], now: int) -> list[Check]: ...


@dataclass(frozen=True)
class TrackOptions:
    owner: str
    limit: int = 200
    concurrency: int = 10
    lease_s: int = DEFAULT_LEASE_S
    provider: str | None = None
    everything: bool = False  # --now: every non-terminal record, whatever its schedule
    not_kakao_user: Mapping[str, Sequence[str]] = field(default_factory=dict)
    jitter: Jitter = track_rules.no_jitter


@dataclass(frozen=True)
class PassError:
    provider_id: str
    error: KmsgError
    records: int


@dataclass
class PassSummary:
    claimed: int = 0
    checked: int = 0
    changed: int = 0
    delivered: int = 0
    failed: int = 0
    failed_over: int = 0
    timed_out: int = 0
    deferred: int = 0
    errors: list[PassError] = field(default_factory=list)

    def count(self, applied: Sequence[Check]) -> None:
        deferred = changed = delivered = failed = timed_out = 0
        for c in applied:
            deferred += c.checked_at is None
            timed_out += c.timed_out
            if c.status is not c.previous:
                changed += 1
                delivered += c.status is Status.DELIVERED
                failed += c.status is Status.FAILED
        self.checked += len(applied) - deferred
        self.deferred += deferred
        self.changed += changed
        self.delivered += delivered
        self.failed += failed
        self.timed_out += timed_out


def track_pass(env: Env, store: TrackStore, opts: TrackOptions) -> PassSummary:
    """One pass. Provider errors are per provider (TRK-1, TRK-10, TRK-11), never the pass's.

    Records are claimed a batch at a time, so memory stays flat in --limit, and the next batch is
    claimed and its status calls started while this one's answers are written: the provider and
    the database work at the same time. An error stops the pass after the batch in hand (the
    records it left due would only be claimed again)."""
    summary = PassSummary()
    _failovers(env, store, opts, summary)  # what a crashed pass left, first (FO-1)
    errors = len(summary.errors)
    with few_collections(), ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
        queries = _Queries(pool, opts.concurrency)
        claim = _Claim(env, store, opts, summary)
        current = claim.next(queries)
        while current is not None:
            records, started = current
            upcoming, landed = None, None  # landed: the ids apply_checks wrote and released
            try:
                upcoming = claim.next(queries)
                checks = finish_checks(started, env, opts, summary)
                applied = store.apply_checks(opts.owner, checks, env.clock.now_ms())
                summary.count(applied)
                landed = {c.message_id for c in applied}
            finally:
                # records not checked (auth/config errors, a crash) go back still due
                ok, landed = landed is not None, landed or set()
                store.release(
                    opts.owner, [r.message_id for r in records if r.message_id not in landed]
                )
                if upcoming is not None and (not ok or len(summary.errors) != errors):
                    claim.drop(upcoming, queries)  # stopping: as if it had never been claimed
                    upcoming = None
            current = upcoming
    _failovers(env, store, opts, summary)
    return summary


class _Claim:
    """The pass's claims, a batch at a time, each with its status calls started."""

    def __init__(self, env: Env, store: TrackStore, opts: TrackOptions, summary: PassSummary):
        self.env, self.store, self.opts, self.summary = env, store, opts, summary
        self.after = ""

    def next(self, queries: _Queries) -> tuple[list[Record], _Started] | None:
        opts, summary = self.opts, self.summary
        if summary.claimed >= opts.limit:
            return None
        now = self.env.clock.now_ms()
        records = self.store.claim_due(
            opts.owner,
            now,
            now + opts.lease_s * 1000,
            min(CLAIM_BATCH, opts.limit - summary.claimed),
            provider=opts.provider,
            everything=opts.everything,
            after=self.after,
        )
        if not records:
            return None
        self.after = max(r.message_id for r in records)
        summary.claimed += len(records)
        try:
            return records, start_checks(records, self.env, opts, queries)
        except BaseException:
            self.store.release(opts.owner, [r.message_id for r in records])
            raise

    def drop(self, claimed: tuple[list[Record], _Started], queries: _Queries) -> None:
        """Give back a batch claimed ahead when the pass stops: its calls not yet made are not
        made, the answers of those made are not written, and its records stay due."""
        records, started = claimed
        queries.stop_all()
        for future in started.done:
            future.exception()  # wait for it, whatever it did
        self.summary.claimed -= len(records)
        self.store.release(self.opts.owner, [r.message_id for r in records])


def _failovers(env: Env, store: TrackStore, opts: TrackOptions, summary: PassSummary) -> None:
    done = run_failovers(env, store, opts.owner, lease_s=opts.lease_s, limit=opts.limit)
    summary.failed_over += done.failed_over
    summary.errors.extend(PassError(pid, exc, 1) for pid, exc in done.errors)


@dataclass
class _Batch:
    provider_id: str
    provider: Provider
    records: list[Record]
    reports: list[StatusReport] | None = None
    error: BaseException | None = None


@dataclass
class _Started:
    checks: list[Check]  # records not due yet at their provider: checked without asking
    batches: list[_Batch]
    done: list[Future[None]]
    errors: list[PassError]  # providers that could not be built: the summary's once finished


def check_records(
    records: Sequence[Record], env: Env, opts: TrackOptions, summary: PassSummary
) -> list[Check]:
    """Query these claimed records' providers (bounded thread pool) and turn the answers into
    Checks, in one step: the watch (core/watch.py) follows a few records this way."""
    with ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
        started = start_checks(records, env, opts, _Queries(pool, opts.concurrency))
        return finish_checks(started, env, opts, summary)


def start_checks(
    records: Sequence[Record], env: Env, opts: TrackOptions, queries: _Queries
) -> _Started:
    """Group the records by provider and start their status calls on ``queries``."""
    now = env.clock.now_ms()
    checks: list[Check] = []
    batches: list[_Batch] = []
    errors: list[PassError] = []
    by_provider: dict[str, list[Record]] = {}
    for r in records:
        early = track_rules.not_yet_due(r, now, env.schedule)
        if early is not None:
            checks.append(early)
        else:
            by_provider.setdefault(r.provider_id, []).append(r)
    for pid, recs in by_provider.items():
        try:
            provider = env.provider(pid)  # built here, in one thread, so secrets fail here
        except KeyError:
            errors.append(PassError(pid, _not_configured(pid), len(recs)))
            continue
        except KmsgError as exc:
            errors.append(PassError(pid, exc, len(recs)))
            continue
        batches.extend(_Batch(pid, provider, chunk) for chunk in _chunks(provider, recs, opts))
    return _Started(checks, batches, queries.start(batches), errors)


def finish_checks(
    started: _Started, env: Env, opts: TrackOptions, summary: PassSummary
) -> list[Check]:
    """Wait for the started calls and turn their answers into Checks."""
    for future in started.done:
        future.result()
    summary.errors.extend(started.errors)
    return started.checks + _to_checks(started.batches, env, opts, summary)


def _not_configured(pid: str) -> ConfigError:
    return ConfigError(
        f"provider {pid!r} has records to track but is not configured",
        hint=f"add [providers.{pid}] back to the config",
    )


def _chunks(provider: Provider, recs: list[Record], opts: TrackOptions) -> list[list[Record]]:
    """Spread one provider's records over the workers, in calls no bigger than it takes (TRK-17)."""
    cap = max(1, int(getattr(provider, "status_batch", STATUS_BATCH) or STATUS_BATCH))
    size = max(1, min(cap, math.ceil(len(recs) / max(1, opts.concurrency))))
    return [recs[i : i + size] for i in range(0, len(recs), size)]


class _Queries:
    """Status calls on at most ``concurrency`` threads of ``pool``, for a whole pass. After an
    auth/config error or a rate limit, that provider's calls not yet made are not made (TRK-10,
    TRK-11)."""

    def __init__(self, pool: ThreadPoolExecutor, concurrency: int) -> None:
        self.pool, self.inline = pool, concurrency <= 1
        self.stopped: dict[str, BaseException] = {}
        self.lock = threading.Lock()
        self.halt: BaseException | None = None

    def start(self, batches: list[_Batch]) -> list[Future[None]]:
        if len(batches) <= 1 or self.inline:
            for b in batches:
                self.run(b)
            return []
        return [self.pool.submit(self.run, b) for b in batches]

    def stop_all(self) -> None:
        """The pass is stopping: calls not yet made are not made."""
        with self.lock:
            self.halt = self.halt or ConfigError("the tracking pass stopped before this call")

    def run(self, batch: _Batch) -> None:
        with self.lock:
            stopped = self.stopped.get(batch.provider_id) or self.halt
            if stopped is not None:
                batch.error = stopped
                return
        try:
            batch.reports = batch.provider.status([_query(r) for r in batch.records])
        except (AuthError, ConfigError, RateLimited) as exc:
            with self.lock:
                self.stopped.setdefault(batch.provider_id, exc)
            batch.error = exc
        except Exception as exc:  # one provider's failure is its records' problem only (TRK-1)
            batch.error = exc


def _query(r: Record) -> StatusQuery:
    # an empty provider_message_id asks the adapter to look it up by recipient + time (TRK-7)
    return StatusQuery(
        r.message_id, r.provider_message_id, r.to, r.type, r.requested_at, r.group_id
    )


def _to_checks(
    batches: list[_Batch], env: Env, opts: TrackOptions, summary: PassSummary
) -> list[Check]:
    now = env.clock.now_ms()
    checks: list[Check] = []
    failed: dict[str, tuple[KmsgError, int]] = {}
    for b in batches:
        rules = Rules(env.schedule, b.provider.kind, opts.not_kakao_user, opts.jitter)
        if b.reports is not None:
            by_id = {rep.message_id: rep for rep in b.reports}
            for r in b.records:
                rep = by_id.get(r.message_id) or StatusReport(
                    r.message_id, None, "missing", "no status returned for this message", now
                )
                checks.append(track_rules.apply_report(r, rep, now, rules))
            continue
        error = _as_kmsg_error(b.error, b.provider_id)
        first, count = failed.get(b.provider_id, (error, 0))
        failed[b.provider_id] = (first, count + len(b.records))
        if isinstance(error, AuthError | ConfigError):
            continue  # left due, untouched: a bad credential must not bury records (TRK-10)
        if isinstance(error, RateLimited):
            wait = error.retry_after or DEFAULT_RETRY_AFTER_S
            until = now + int(wait * 1000)
            checks.extend(track_rules.deferred(r, until) for r in b.records)
            continue
        checks.extend(
            track_rules.apply_error(r, error.code, error.message, now, rules) for r in b.records
        )
    summary.errors.extend(PassError(pid, e, n) for pid, (e, n) in failed.items())
    return checks


def _as_kmsg_error(exc: BaseException | None, pid: str) -> KmsgError:
    if isinstance(exc, ProviderError):
        exc.provider_id = exc.provider_id or pid
        return exc
    if isinstance(exc, KmsgError):
        return exc
    return ProviderError(
        f"{pid}: status lookup failed: {type(exc).__name__}: {exc}", provider_id=pid
    )
