"""Settlement: the only way out of an unknown outcome (core/ledger.py).

An attempt whose answer was lost (the process died in the call, the connection dropped, a 5xx or a
timeout after the request left) is *unsettled*. Before the same logical message may be tried again,
its provider is asked whether it has it (``Provider.received``): what it has becomes accepted (or
rejected, if it refused it at registration); what it provably never got becomes refused, so the
next attempt is allowed; a provider that cannot tell leaves it unknown: never resent.

Settlement waits until an attempt is old enough that no provider can still be working on it
(``Env.settle_after_ms`` after the request started, by the local clock on both ends, so a skewed
host clock does not matter here); the provider's own search window covers any skew it accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kmsg_cli.core.models import Message, Record, SendState
from kmsg_cli.core.ports import Env
from kmsg_cli.errors import ProviderError


@dataclass
class Settled:
    found: int = 0  # the provider has them: accepted (or rejected at registration)
    lost: int = 0  # the provider never got them: a new attempt may go out
    unknown: int = 0  # the provider cannot tell, or is not asked yet: never resent
    # of those, the ones whose provider could not be reached now: asking again later may settle
    unreachable: set[str] = field(default_factory=set)


def ready(record: Record, now: int, env: Env, *, owner_gone: bool = False) -> bool:
    """Whether an unsettled attempt may be settled now. An in-flight attempt belongs to a live
    process unless its owner is known to be gone or the in-flight grace has passed."""
    old_enough = now - record.requested_at >= env.settle_after_ms
    if record.send_state is SendState.UNKNOWN:
        return old_enough
    if record.send_state is SendState.IN_FLIGHT:
        return old_enough and (owner_gone or now - record.requested_at >= env.in_flight_grace_ms)
    return False


def settle(records: Sequence[Record], env: Env) -> Settled:
    """Ask each provider about these unsettled attempts and record what it says."""
    store: Any = env.store()
    by_provider: dict[str, list[Record]] = {}
    for r in records:
        by_provider.setdefault(r.provider_id, []).append(r)
    totals = Settled()
    for provider_id, group in by_provider.items():
        messages = [Message(r.message_id, r.type, r.to, r.sender, "") for r in group]
        since = min(r.requested_at for r in group)
        try:
            have = env.provider(provider_id).received(messages, since)
        except ProviderError as exc:
            env.warn(f"{provider_id}: cannot check {len(group)} unanswered messages: {exc.message}")
            totals.unreachable.update(r.message_id for r in group)
            have = None
        except KeyError:  # the provider is no longer configured: nobody can tell
            have = None
        now = env.clock.now_ms()
        if have is None:
            store.settle_unknown([r.message_id for r in group], now)
            totals.unknown += len(group)
            continue
        results = [
            replace(have[r.message_id], message_id=r.message_id)
            for r in group
            if r.message_id in have
        ]
        missing = [r.message_id for r in group if r.message_id not in have]
        checks = {res.message_id: env.schedule.first_check(now, None) for res in results}
        store.settle_lost(results, missing, now, checks)
        totals.found += len(results)
        totals.lost += len(missing)
    return totals
