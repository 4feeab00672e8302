"""The failover step of a tracking pass: finish every claimable intent in the outbox (FO-1..3).

An intent is taken with a conditional update (pending, or sending with an expired lease), so two
passes never both own it (FO-2). Before anything is sent, the fallback's own record is looked up:
if an earlier, crashed attempt wrote it, the intent is finished from that record and nothing is
sent again. Otherwise the fallback goes through ``service.execute``: written as an attempt under
its deterministic idempotency key, then sent, so even a race past both checks meets the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmsg_cli.core import content, tracking
from kmsg_cli.core.ledger import RETRYABLE
from kmsg_cli.core.models import Message, Record, SendState
from kmsg_cli.core.routing import route
from kmsg_cli.core.service import (
    ACCEPTED,
    DUPLICATE,
    SUPPRESSED,
    UNKNOWN,
    Env,
    Outcome,
    Planned,
    execute,
    for_provider,
)
from kmsg_cli.core.tracking import FAILED, SENT, SKIPPED, FailoverSkipped
from kmsg_cli.errors import KmsgError

if TYPE_CHECKING:
    from kmsg_cli.core.track import PassSummary, TrackOptions, TrackStore

UNKNOWN_NOTE = "fallback outcome unknown: tracking reconciles it, it is never sent twice"


def run_failovers(env: Env, store: TrackStore, opts: TrackOptions, summary: PassSummary) -> None:
    """Claim up to ``opts.limit`` intents and finish each: sent, failed or skipped."""
    now = env.clock.now_ms()
    intents = store.claim_intents(opts.owner, now, now + opts.lease_s * 1000, opts.limit)
    ready: list[tuple[Any, Planned]] = []
    for intent in intents:
        item = _prepare(intent, env, store, opts, summary)
        if item is not None:
            ready.append((intent, item))
    if not ready:
        return
    outcomes = {o.message.message_id: o for o in execute([p for _, p in ready], env)}
    for intent, planned in ready:
        outcome = outcomes[planned.message.message_id]
        state, error = _from_outcome(outcome)
        if _finish(store, opts, intent, state, error, env) and outcome.state == ACCEPTED:
            summary.failed_over += 1


def _prepare(
    intent: Any, env: Env, store: TrackStore, opts: TrackOptions, summary: PassSummary
) -> Planned | None:
    """The fallback to send for this intent, or None when the intent was settled here."""
    existing = store.get(intent.fallback_id)
    if existing is not None:  # written by an attempt that crashed: never send it again
        state, error = _from_record(existing)
        _finish(store, opts, intent, state, error, env)
        return None
    original = store.get(intent.original_id)
    try:
        if original is None:
            raise FailoverSkipped("ORIGINAL_MISSING", "the original message is gone")
        return _plan(tracking.fallback_message(original), env)
    except FailoverSkipped as skip:
        _finish(store, opts, intent, SKIPPED, f"{skip.code}: {skip.message}", env)
    except KmsgError as exc:  # no route, or the provider cannot be built: try again next pass
        from kmsg_cli.core.track import PassError

        store.return_intent(opts.owner, intent.original_id, exc.message, env.clock.now_ms())
        summary.errors.append(PassError(original.provider_id if original else "-", exc, 1))
    return None


def _plan(message: Message, env: Env) -> Planned:
    """Route the fallback like any SMS/LMS; build its provider now, so a missing secret keeps the
    intent pending instead of journaling a fallback that can never be retried."""
    ids, reason = route(
        message.type,
        explicit=None,
        by_type=env.routing_by_type,
        default=env.routing_default,
        strategy=env.routing_strategy,
        capabilities=env.capabilities,
        advance=lambda key, n: env.store().advance_cursor(key, n),
    )
    env.provider(ids[0])
    message = for_provider(message, ids[0], env)
    return Planned(
        message, tuple(ids), f"api failover; {reason}", content.byte_length(message.text)
    )


def _finish(
    store: TrackStore,
    opts: TrackOptions,
    intent: Any,
    state: str,
    error: str | None,
    env: Env,
) -> bool:
    return store.finish_intent(opts.owner, intent, state, error, env.clock.now_ms())


def _from_outcome(o: Outcome) -> tuple[str, str | None]:
    if o.state == ACCEPTED:
        return SENT, None
    if o.state == DUPLICATE and o.existing is not None:
        return _from_record(o.existing)
    if o.state == UNKNOWN:
        return SENT, UNKNOWN_NOTE
    if o.state == SUPPRESSED:
        return SKIPPED, "recipient is on the suppression list"
    if o.state == "queued":  # main's send path may hold a message in kmsg_jobs: it sends it later
        return SENT, "queued: the local queue sends the fallback"
    reason = o.error.message if o.error else (o.result.error if o.result else None)
    code = o.result.code if o.result and o.result.code else (o.error.code if o.error else "")
    return FAILED, f"{code}: {reason or 'rejected'}"


def _from_record(r: Record) -> tuple[str, str | None]:
    if r.send_state is SendState.ACCEPTED:
        return SENT, None
    if r.send_state in RETRYABLE:
        err = r.last_error or {}
        return FAILED, f"{err.get('code', r.provider_status_code)}: {err.get('message', '')}"
    return SENT, UNKNOWN_NOTE
