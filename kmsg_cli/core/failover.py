"""The failover step of a tracking pass: finish every claimable intent in the outbox (FO-1..3).

An intent is taken with a conditional update (pending, or sending with an expired lease), so two
passes never both own it (FO-2). Before anything is sent, the fallback's own record is looked up:
if an earlier, crashed attempt wrote it, the intent is finished from that record and nothing is
sent again. Otherwise the fallback goes through ``service.execute``: written as an attempt under
its deterministic idempotency key, then sent, so even a race past both checks meets the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kmsg_cli.core import content, track_rules
from kmsg_cli.core.ledger import RETRYABLE
from kmsg_cli.core.models import Message, Record, SendState
from kmsg_cli.core.ports import Env
from kmsg_cli.core.routing import route
from kmsg_cli.core.service import (
    ACCEPTED,
    DUPLICATE,
    SUPPRESSED,
    UNKNOWN,
    Outcome,
    Planned,
    execute,
    for_provider,
)
from kmsg_cli.core.track_rules import FAILED, SENT, SKIPPED, FailoverSkipped
from kmsg_cli.errors import KmsgError

UNKNOWN_NOTE = "fallback outcome unknown: tracking reconciles it, it is never sent twice"


class FailoverStore(Protocol):
    """What the failover step needs from the store (kmsg_cli.store.Store satisfies it)."""

    def claim_intents(self, owner: str, now: int, lease_until: int, limit: int) -> list[Any]: ...

    def return_intent(self, owner: str, original_id: str, error: str, now: int) -> None: ...

    def finish_intent(
        self, owner: str, intent: Any, state: str, error: str | None, now: int
    ) -> bool: ...

    def get(self, message_id: str) -> Record | None: ...


@dataclass
class FailoverPass:
    owner: str
    failed_over: int = 0
    errors: list[tuple[str, KmsgError]] = field(default_factory=list)  # (provider id, why)


def run_failovers(
    env: Env, store: FailoverStore, owner: str, *, lease_s: int, limit: int
) -> FailoverPass:
    """Claim up to ``limit`` intents for ``owner`` and finish each: sent, failed or skipped."""
    done = FailoverPass(owner)
    now = env.clock.now_ms()
    intents = store.claim_intents(owner, now, now + lease_s * 1000, limit)
    ready: list[tuple[Any, Planned]] = []
    for intent in intents:
        item = _prepare(intent, env, store, done)
        if item is not None:
            ready.append((intent, item))
    if not ready:
        return done
    outcomes = {o.message.message_id: o for o in execute([p for _, p in ready], env)}
    for intent, planned in ready:
        outcome = outcomes[planned.message.message_id]
        state, error = _from_outcome(outcome)
        if _finish(store, owner, intent, state, error, env) and outcome.state == ACCEPTED:
            done.failed_over += 1
    return done


def _prepare(intent: Any, env: Env, store: FailoverStore, done: FailoverPass) -> Planned | None:
    """The fallback to send for this intent, or None when the intent was settled here."""
    existing = store.get(intent.fallback_id)
    if existing is not None:  # written by an attempt that crashed: never send it again
        state, error = _from_record(existing)
        _finish(store, done.owner, intent, state, error, env)
        return None
    original = store.get(intent.original_id)
    try:
        if original is None:
            raise FailoverSkipped("ORIGINAL_MISSING", "the original message is gone")
        return _plan(track_rules.fallback_message(original), env)
    except FailoverSkipped as skip:
        _finish(store, done.owner, intent, SKIPPED, f"{skip.code}: {skip.message}", env)
    except KmsgError as exc:  # no route, or the provider cannot be built: try again next pass
        store.return_intent(done.owner, intent.original_id, exc.message, env.clock.now_ms())
        done.errors.append((original.provider_id if original else "-", exc))
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
    store: FailoverStore, owner: str, intent: Any, state: str, error: str | None, env: Env
) -> bool:
    return store.finish_intent(owner, intent, state, error, env.clock.now_ms())


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
