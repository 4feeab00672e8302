"""The local queue's use cases: enqueue a send, and run due jobs exactly once.

One job per recipient (Q-10). A job sends through ``service.execute`` with the idempotency key
``job:<id>:<generation>``: a worker killed mid-send leaves a journaled message under that key, so
the next claim finds it and never sends again. The generation moves on only after an error that
proves the message was not accepted (rate limited, unavailable), so a retry is a new send.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kmsg_cli.core import korea
from kmsg_cli.core.compose import Draft
from kmsg_cli.core.models import Failover, Job
from kmsg_cli.core.service import (
    DUPLICATE,
    SUPPRESSED,
    UNKNOWN,
    Env,
    Planned,
    execute,
    new_message_id,
    plan_one,
)
from kmsg_cli.errors import ERROR_CLASSES, ConfigError, InputError, KmsgError, ProviderError

SEND = "send"
LEASE_MS = 5 * 60 * 1000
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 30.0
RETRYABLE = ("rate_limited", "unavailable")


@dataclass
class QueueSummary:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    unknown: int = 0
    errors: list[str] = field(default_factory=list)
    config_error: ConfigError | None = None


def draft_to_data(draft: Draft, to: str) -> dict[str, Any]:
    data = asdict(draft)
    data["to"] = to
    return data


def draft_from_data(data: dict[str, Any]) -> tuple[Draft, str]:
    values = dict(data)
    to = values.pop("to")
    failover = values.pop("failover", None)
    draft = Draft(**values, failover=Failover(**failover) if failover else None)
    return draft, to


def send_job(
    draft: Draft,
    to: str,
    now: int,
    process_at: int,
    *,
    reason: str,
    max_attempts: int = 3,
    priority: int = 0,
) -> Job:
    job_id = new_message_id(now)
    key = f"{draft.idempotency_key}:queued" if draft.idempotency_key else None
    return Job(
        id=job_id, type=SEND, data=draft_to_data(draft, to), status="pending", priority=priority,
        attempts=0, max_attempts=max_attempts, created_at=now, process_at=process_at,
        metadata={"reason": reason, "generation": 0}, idempotency_key=key,
    )  # fmt: skip


def hold(
    planned: list[Planned], draft: Draft, at: int, env: Env, store: Any, *, reason: str
) -> list[Job]:
    """Queue each planned message for ``at`` (one job per recipient); re-holding the same
    idempotency key returns the job already queued."""
    now = env.clock.now_ms()
    return [
        store.enqueue(
            send_job(
                replace(draft, idempotency_key=p.message.idempotency_key),
                p.message.to,
                now,
                at,
                reason=reason,
            )
        )
        for p in planned
    ]


def backoff_ms(attempt: int, retry_after: float | None, rng: Callable[[], float]) -> int:
    """Full jitter, 1 s doubling to a 30 s cap; a provider's Retry-After is a floor (NET-6)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempt - 1, 0))
    delay = rng() * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return int(delay * 1000)


def run_once(
    env: Env, store: Any, owner: str, *, limit: int = 50, rng: Callable[[], float] = random.random
) -> QueueSummary:
    summary = QueueSummary()
    jobs = store.claim_jobs(owner, env.clock.now_ms(), LEASE_MS, limit)
    summary.claimed = len(jobs)
    for index, job in enumerate(jobs):
        try:
            _process(job, env, store, owner, summary, rng)
        except ConfigError as exc:  # fixable by the operator: keep the jobs, stop the run
            for held in jobs[index:]:
                store.retry_job(
                    held.id, owner, held.process_at, exc.message, held.metadata, refund=True
                )
            summary.config_error = exc
            break
        except KmsgError as exc:  # invalid or unroutable: retrying cannot help
            store.fail_job(job.id, owner, env.clock.now_ms(), exc.message)
            summary.dead += 1
            summary.errors.append(f"job {job.id}: {exc.message}")
    return summary


def _process(
    job: Job, env: Env, store: Any, owner: str, summary: QueueSummary, rng: Callable[[], float]
) -> None:
    now = env.clock.now_ms()
    if job.type != SEND:
        raise KmsgError(f"unknown job type {job.type!r}")
    draft, to = draft_from_data(job.data)
    if draft.ad and korea.in_quiet_hours(now):
        # the night ban is checked at send time too; waiting is not an attempt
        store.retry_job(job.id, owner, korea.quiet_hours_end(now), None, job.metadata, refund=True)
        summary.deferred += 1
        return
    generation = int(job.metadata.get("generation", 0))
    key = f"job:{job.id}:{generation}"
    planned = plan_one(replace(draft, idempotency_key=key, scheduled_at=None), to, env)
    planned = replace(planned, message=replace(planned.message, job_id=job.id))
    outcome = execute([planned], env)[0]
    error = outcome.error if isinstance(outcome.error, ProviderError) else None
    if outcome.state == DUPLICATE and outcome.existing is not None:
        error = _retryable_rejection(outcome.existing)
    if error is not None and error.error_class in RETRYABLE and error.not_accepted:
        _retry(job, env, store, owner, summary, rng, error, generation)
        return
    meta = {
        **job.metadata,
        "message_id": outcome.existing.message_id
        if outcome.existing
        else outcome.message.message_id,
        "state": outcome.state,
    }
    if outcome.state in ("rejected", SUPPRESSED):
        reason = (
            outcome.error.message
            if outcome.error
            else (outcome.result.error if outcome.result else "rejected")
        )
        store.fail_job(job.id, owner, env.clock.now_ms(), reason or "rejected")
        summary.dead += 1
        return
    store.complete_job(job.id, owner, env.clock.now_ms(), meta)
    summary.unknown += outcome.state == UNKNOWN
    summary.sent += outcome.state != UNKNOWN


def _retryable_rejection(record: Any) -> ProviderError | None:
    """A crash after the provider refused with "try later" but before the job was updated."""
    code = (record.last_error or {}).get("code")
    if record.send_state == "rejected" and code in RETRYABLE:
        return ERROR_CLASSES[code](record.last_error.get("message", ""))
    return None


def _retry(
    job: Job,
    env: Env,
    store: Any,
    owner: str,
    summary: QueueSummary,
    rng: Callable[[], float],
    error: ProviderError,
    generation: int,
) -> None:
    now = env.clock.now_ms()
    # the attempt was provably not accepted, so the next one (even after `queue retry`) is new
    meta = {**job.metadata, "generation": generation + 1}
    if job.attempts >= job.max_attempts:
        store.fail_job(job.id, owner, now, f"{error.error_class}: {error.message}", meta)
        summary.dead += 1
        return
    retry_after = getattr(error, "retry_after", None)
    at = now + backoff_ms(job.attempts, retry_after, rng)
    store.retry_job(job.id, owner, at, f"{error.error_class}: {error.message}", meta)
    summary.retried += 1


def cancel_scheduled(env: Env, store: Any, message_id: str) -> Any:
    """Cancel a message the provider holds scheduled (SEND-16). The provider cancels the whole
    group it was sent in, so every record of that group becomes CANCELLED."""
    record = store.get(message_id) or next(iter(store.find_prefix(message_id, 1)), None)
    if record is None:
        raise InputError(f"no job or message matches {message_id!r}")
    now = env.clock.now_ms()
    if record.status.terminal or not record.scheduled_at or record.scheduled_at <= now:
        raise InputError(
            f"message {record.message_id} is not waiting on a provider-side schedule "
            f"(status {record.status.value})"
        )
    if not record.group_id:
        raise InputError(f"message {record.message_id} has no cancel handle from its provider")
    env.provider(record.provider_id).cancel(record.group_id)
    store.mark_cancelled(record.provider_id, record.group_id, now)
    return store.get(record.message_id)
