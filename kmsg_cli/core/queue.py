"""The local queue's use cases: enqueue a send, and run due jobs exactly once.

One job per recipient (Q-10). Holding a message writes its *planned* attempt in the delivery
ledger together with the job, under the user's idempotency key (or ``job:<id>``): a second command
with the same key sees it held, and one with other content is a conflict. The job sends through
``service.execute`` under the same key, so the ledger decides every attempt: a worker killed
mid-send leaves an in-flight attempt that is settled before anything is sent again, and a retry
after a refusal (rate limited, unavailable) or a rejection is a new attempt of the same message.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kmsg_cli.core import korea
from kmsg_cli.core.compose import Draft
from kmsg_cli.core.ledger import Unsettled, Verdict
from kmsg_cli.core.models import Button, Failover, Job, SendState
from kmsg_cli.core.ports import Env
from kmsg_cli.core.service import (
    DUPLICATE,
    QUEUED,
    SUPPRESSED,
    UNKNOWN,
    Outcome,
    Planned,
    execute,
    new_message_id,
    plan_one,
)
from kmsg_cli.core.times import kst
from kmsg_cli.errors import ConfigError, InputError, KmsgError, ProviderError, TemporaryError

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
    held = tuple(Button(**b) for b in values.pop("buttons", ()))  # a job held before 13 has none
    draft = Draft(**values, failover=Failover(**failover) if failover else None, buttons=held)
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
    """A kmsg_jobs row that sends ``draft`` to ``to`` at ``process_at``."""
    return Job(
        id=new_message_id(now), type=SEND, data=draft_to_data(draft, to), status="pending",
        priority=priority, attempts=0, max_attempts=max_attempts, created_at=now,
        process_at=process_at, metadata={"reason": reason},
    )  # fmt: skip


def hold(
    planned: list[Planned], draft: Draft, at: int, env: Env, store: Any, *, reason: str
) -> list[Outcome]:
    """Queue each planned message for ``at`` (one job per recipient), its planned attempt written
    with the job. The same key held again is reported as queued already, a key already accepted
    as sent before, and one whose earlier attempt is unsettled as unknown."""
    now = env.clock.now_ms()
    outcomes = []
    for p in planned:
        job = send_job(draft, p.message.to, now, at, reason=reason)
        key = p.message.idempotency_key or f"job:{job.id}"
        message = replace(p.message, idempotency_key=key, job_id=job.id, scheduled_at=at)
        job = replace(
            job,
            data=draft_to_data(replace(draft, idempotency_key=key), p.message.to),
            metadata={**job.metadata, "message_id": message.message_id},
        )
        decision = store.hold(message, p.route[0], job, now)
        earlier = decision.latest
        if decision.verdict is Verdict.SEND:
            outcomes.append(Outcome(message, p.route[0], QUEUED, job=job))
        elif decision.verdict is Verdict.HELD:
            outcomes.append(Outcome(message, p.route[0], QUEUED, existing=earlier))
        elif decision.verdict is Verdict.ACCEPTED:
            outcomes.append(Outcome(message, p.route[0], DUPLICATE, existing=earlier))
        else:
            error = TemporaryError(
                "an earlier attempt under this key may have reached the provider; not queued",
                hint="`kmsg track --once` or a rerun in a minute settles it with the provider",
            )
            outcomes.append(Outcome(message, p.route[0], UNKNOWN, error=error, existing=earlier))
    return outcomes


def send_at(
    planned: list[Planned], draft: Draft, at: int, env: Env, *, deferred: bool
) -> list[Outcome]:
    """Provider-side scheduling where the provider can within its window; else the local queue.
    A deferred ad always waits in the local queue, so the night ban and the opt-out list are
    checked again when it goes out."""
    now = env.clock.now_ms()
    native: list[Planned] = []
    held: list[Planned] = []
    for item in planned:
        pid = item.route[0]
        window = env.schedule_windows.get(pid)
        ok = not deferred and korea.provider_can_schedule(window, now, at)
        (native if ok else held).append(
            replace(item, message=replace(item.message, scheduled_at=at))
        )
    outcomes = execute(native, env) if native else []
    if held:
        reason = "advertising deferred to 08:00 KST" if deferred else "scheduled"
        outcomes += hold(
            held, replace(draft, scheduled_at=None), at, env, env.store(), reason=reason
        )
    return outcomes


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
    kakao = korea.kakao_ad(draft.type)
    if (draft.ad or kakao) and korea.in_quiet_hours(now, kakao=kakao):
        # the night ban is checked at send time too; waiting is not an attempt
        store.retry_job(job.id, owner, korea.quiet_hours_end(now), None, job.metadata, refund=True)
        summary.deferred += 1
        return
    key = draft.idempotency_key or f"job:{job.id}"
    planned = plan_one(
        replace(draft, idempotency_key=key, scheduled_at=None), to, env, _held_id(job, store)
    )
    planned = replace(planned, message=replace(planned.message, job_id=job.id))
    # a job is claimed only when no live worker holds it, so an attempt it left in flight is
    # abandoned: settled with its provider rather than waited for
    outcome = execute([planned], env, abandoned=True)[0]
    error = outcome.error if isinstance(outcome.error, ProviderError) else None
    if error is not None and error.error_class in RETRYABLE and error.not_accepted:
        _retry(job, env, store, owner, summary, rng, error)
        return
    summary.unknown += outcome.state == UNKNOWN
    asked = isinstance(outcome.error, Unsettled) and outcome.error.asked
    if outcome.state == UNKNOWN and not asked:  # asks the ledger again once it can be settled
        _retry(job, env, store, owner, summary, rng, outcome.error or KmsgError("unknown"))
        return
    earlier = outcome.existing
    meta = {
        **job.metadata,
        "message_id": earlier.message_id if earlier else outcome.message.message_id,
        "state": outcome.state.value,
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
    if outcome.state == QUEUED:  # another job holds this key: that one sends it
        meta["state"] = f"held by job {earlier.job_id if earlier else '?'}"
    store.complete_job(job.id, owner, env.clock.now_ms(), meta)
    summary.sent += outcome.state in ("accepted", DUPLICATE)


def _held_id(job: Job, store: Any) -> str | None:
    """The id of the planned attempt this job holds, while it is still planned (a later attempt,
    after a refusal, gets a new id)."""
    held = job.metadata.get("message_id")
    record = store.get(held) if held else None
    return held if record is not None and record.send_state is SendState.PLANNED else None


def _retry(
    job: Job,
    env: Env,
    store: Any,
    owner: str,
    summary: QueueSummary,
    rng: Callable[[], float],
    error: KmsgError,
) -> None:
    """Try the job again later: after a refusal it is a new attempt; after an unknown outcome the
    ledger settles the earlier attempt first, so the wait covers the settlement delay."""
    now = env.clock.now_ms()
    reason = f"{error.code}: {error.message}"
    import logging  # only on this rare path: a plain send never loads it

    log = logging.getLogger("kmsg.queue")  # shown by -v (docs/output.md#verbose-output)
    if job.attempts >= job.max_attempts:
        log.info("retry: job %s: %s: not retried: %d attempts made", job.id, reason, job.attempts)
        store.fail_job(job.id, owner, now, reason, job.metadata)
        summary.dead += 1
        return
    refused = isinstance(error, ProviderError) and error.not_accepted
    retry_after = getattr(error, "retry_after", None)
    if not refused:
        retry_after = max(retry_after or 0, env.settle_after_ms / 1000 + 1)
    at = now + backoff_ms(job.attempts, retry_after, rng)
    log.info("retry: job %s: %s: again at %s", job.id, reason, kst(at))
    store.retry_job(job.id, owner, at, reason, job.metadata)
    summary.retried += refused


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
