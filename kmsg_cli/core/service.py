"""The send use case: plan (compose, route, price) then execute (ask the ledger, write the
attempt, call, record).

Everything that sends — `kmsg send`, bulk, the queue, failover — goes through ``execute``, so the
delivery ledger (core/ledger.py) is asked about every message and its attempt is written before its
provider is called: a message already accepted is never sent again, one whose earlier attempt is
unknown is settled first (core/settle.py), and one that was refused or rejected is tried again as a
new attempt.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from kmsg_cli.core import buttons, content, ledger, phone, templates
from kmsg_cli.core.compose import (
    Composed,
    Draft,
    check_for_provider,
    compose,
    failover_mode,
    fallback_type,
)
from kmsg_cli.core.ledger import Verdict
from kmsg_cli.core.models import Message, MessageType, Record, SendResult, Status, evolve
from kmsg_cli.core.ports import Env, JournalStore
from kmsg_cli.core.routing import route
from kmsg_cli.core.settle import ready, settle
from kmsg_cli.errors import ConfigError, ExitCode, InputError, KmsgError, ProviderError


class Fate(StrEnum):
    """What became of one message in one command (the JSON documents' ``state``)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the provider said no, or the call provably did not get through
    UNKNOWN = "unknown"  # may have been sent: settled later, never resent blind
    DUPLICATE = "duplicate"  # accepted by an earlier command under the same key: not sent again
    SUPPRESSED = "suppressed"  # on the opt-out list: not sent
    QUEUED = "queued"  # held in the local queue (kmsg_jobs) until its time


ACCEPTED, REJECTED, UNKNOWN = Fate.ACCEPTED, Fate.REJECTED, Fate.UNKNOWN
DUPLICATE, SUPPRESSED, QUEUED = Fate.DUPLICATE, Fate.SUPPRESSED, Fate.QUEUED


@dataclass(frozen=True)
class Planned:
    message: Message
    route: tuple[str, ...]
    reason: str
    bytes: int
    warnings: tuple[str, ...] = ()
    cost: float | None = None
    draft: Draft | None = (
        None  # what it was planned from: a held campaign row's queue job replans it
    )


@dataclass
class Outcome:
    message: Message
    provider_id: str
    state: Fate
    result: SendResult | None = None
    error: KmsgError | None = None
    existing: Record | None = None  # the earlier attempt, for duplicates and unsettled ones
    job: Any = None  # the kmsg_jobs row, for messages queued by this command


# 48 random bits per process and a counter: unique across processes and hosts without a system
# call per message (os.urandom for each id was ~10 µs a row)
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(secrets.randbelow(1 << 24))


def new_message_id(now_ms: int) -> str:
    """Time-ordered, 32 hex characters (fits SOLAPI customFields)."""
    return f"{now_ms:012x}{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFF:08x}"


def plan(draft: Draft, recipients: Sequence[str], env: Env) -> list[Planned]:
    """Validate, render and route one draft for each recipient. Nothing is written or sent.

    An idempotency key names the whole command: each recipient's message carries the key and a
    fingerprint over every recipient and the content, so the same key with other recipients or
    other text is a conflict (exit 65), and typing a number differently changes nothing."""
    if not recipients:
        raise InputError("no recipient", hint="pass --to NUMBER")
    seen: set[str] = set()
    planned = []
    for raw in recipients:
        item = plan_one(draft, raw, env)
        if item.message.to in seen:
            raise InputError(
                f"recipient {item.message.to[:3]}-****-{item.message.to[-4:]} is listed twice"
            )
        seen.add(item.message.to)
        planned.append(item)
    first = planned[0].message
    if env.templates is not None and first.type is MessageType.ALIMTALK and first.template_id:
        # a --var the template does not use is a typo (a CSV's extra columns are not checked)
        found = env.templates.template(planned[0].route[0], first.template_id)
        templates.unknown_variables(draft.variables, found)
    if draft.idempotency_key:
        planned = [
            replace(p, message=replace(p.message, fingerprint=ledger.fingerprint(p.message, seen)))
            for p in planned
        ]
    return planned


def plan_one(
    draft: Draft, to: str, env: Env, message_id: str | None = None, *, preview: bool = False
) -> Planned:
    """One recipient. ``preview``: for counting only, so a round-robin cursor is not moved."""
    now = env.clock.now_ms()
    composed: Composed = compose(
        draft, to, message_id or new_message_id(now), auto_lms_bytes=env.auto_lms_bytes
    )
    message = composed.message
    ids, reason = route(
        message.type,
        explicit=draft.provider_id,
        by_type=env.routing_by_type,
        default=env.routing_default,
        strategy=env.routing_strategy,
        capabilities=env.capabilities,
        advance=(lambda _k, _n: 0) if preview else lambda k, n: env.store().advance_cursor(k, n),
    )
    message = for_provider(_registered(message, ids[0], env), ids[0], env)
    if env.templates is not None:
        templates.check_sender(message.sender, env.templates.senders(ids[0]), ids[0])
    check_for_provider(message, env.kinds.get(ids[0], ""))
    price = env.prices.get(message.type.value)
    size = composed.bytes
    if message.text is not composed.message.text:  # rendered from the registered template
        size = content.byte_length(message.text)
    return Planned(message, tuple(ids), reason, size, composed.warnings, price, draft)


def _registered(message: Message, provider_id: str, env: Env) -> Message:
    """An AlimTalk checked against its registered template and rendered (core/templates.py),
    its buttons the template's (core/buttons.py)."""
    if env.templates is None or message.type is not MessageType.ALIMTALK:
        return message
    if not message.template_id:
        return message
    found = env.templates.template(provider_id, message.template_id)
    if found is None:
        return message
    applied = templates.apply(message, found, provider_id)
    return buttons.against_template(applied, found.buttons, found.code)


def for_provider(message: Message, provider_id: str, env: Env) -> Message:
    """Fill what depends on the provider: its default sender, and the failover path (FO-4, FO-7)."""
    default = env.default_senders.get(provider_id)
    # a configured default sender obeys the same rules as --from (sender-number registration)
    sender = message.sender or (phone.sender(default) if default else None)
    mode = None
    if message.failover is not None:
        native = bool(env.native_failover.get(provider_id))
        mode = failover_mode(message, env.kinds.get(provider_id, ""), native)
        if mode == "api":
            _check_api_failover(message, provider_id, env)
        if not sender:
            raise ConfigError(
                f"failover needs a sender number and provider {provider_id!r} has no default",
                hint="pass --from NUMBER or set default_from for the provider",
            )
    if sender == message.sender and mode == message.failover_mode:
        return message
    return evolve(message, sender=sender, failover_mode=mode)


def _check_api_failover(message: Message, provider_id: str, env: Env) -> None:
    """Refuse a fallback that could never go out (FO-7): kmsg fails over through the API only
    after the provider reports "not a KakaoTalk user", and needs a route for the SMS/LMS."""
    if not env.api_failover.get(provider_id, True):
        kind = env.kinds.get(provider_id, "?")
        raise ConfigError(
            f"the fallback cannot take effect on provider {provider_id!r} ({kind}): it does not "
            "fail over itself, and none of its statuses says 'not a KakaoTalk user'",
            hint=f"add its codes to [tracking] not_kakao_user_codes ({kind} = [...]), or route "
            "AlimTalk to a provider that fails over",
        )
    assert message.failover is not None
    route(
        fallback_type(message.failover),
        explicit=None,
        by_type=env.routing_by_type,
        default=env.routing_default,
        strategy=env.routing_strategy,
        capabilities=env.capabilities,
        advance=lambda _k, _n: 0,
    )


def execute(planned: Sequence[Planned], env: Env, *, abandoned: bool = False) -> list[Outcome]:
    """Send planned messages through their routes, batching per provider. ``abandoned``: an
    in-flight attempt under these keys belongs to a process known to be gone (a queue job whose
    lease ran out), so it may be settled without waiting for the in-flight grace."""
    outcomes: list[Outcome] = []
    groups: dict[tuple[str, ...], list[Planned]] = {}
    for item in planned:
        groups.setdefault(item.route, []).append(item)
    for route_ids, items in groups.items():
        size = max(1, env.provider(route_ids[0]).max_batch)
        for start in range(0, len(items), size):
            chunk = [p.message for p in items[start : start + size]]
            outcomes.extend(_send_chunk(chunk, route_ids, env, abandoned))
    return outcomes


def _send_chunk(
    messages: list[Message], route_ids: Sequence[str], env: Env, abandoned: bool = False
) -> list[Outcome]:
    store = env.store()
    # the opt-out list is read at send time, so a queued or resumed message honours it too
    blocked = store.suppressed(m.to for m in messages)
    suppressed = [
        Outcome(
            m, route_ids[0], SUPPRESSED, error=InputError("recipient is on the suppression list")
        )
        for m in messages
        if m.to in blocked
    ]
    messages = [m for m in messages if m.to not in blocked]
    if not messages:
        return suppressed
    return suppressed + _attempt_and_send(messages, route_ids, env, abandoned)


def _attempt_and_send(
    messages: list[Message], route_ids: Sequence[str], env: Env, abandoned: bool
) -> list[Outcome]:
    store = env.store()
    decisions = store.begin_attempts([(m, route_ids[0]) for m in messages], env.clock.now_ms())
    unsettled = [d.latest for d in decisions.values() if d.verdict is Verdict.SETTLE and d.latest]
    asked = _settle_ready(unsettled, env, abandoned) if unsettled else set()
    if asked:  # settled what could be: ask the ledger again about those messages
        retry = [m for m in messages if decisions[m.message_id].verdict is Verdict.SETTLE]
        again = store.begin_attempts([(m, route_ids[0]) for m in retry], env.clock.now_ms())
        decisions.update(again)
    if all(d.verdict is Verdict.SEND for d in decisions.values()):  # the common chunk
        return _call(messages, route_ids, env)
    outcomes = [_not_sent(m, decisions[m.message_id], asked) for m in messages]
    done = [o for o in outcomes if o is not None]
    pending = [m for m, o in zip(messages, outcomes, strict=True) if o is None]
    return done + _call(pending, route_ids, env) if pending else done


def _settle_ready(records: list[Record], env: Env, abandoned: bool) -> set[str]:
    """Settle the attempts old enough to ask about; returns the message ids their provider
    answered for (or never can): one it could not reach now is asked again later."""
    now = env.clock.now_ms()
    due = [r for r in records if ready(r, now, env, owner_gone=abandoned)]
    if not due:
        return set()
    return {r.message_id for r in due} - settle(due, env).unreachable


def _not_sent(m: Message, decision: ledger.Decision, asked: set[str]) -> Outcome | None:
    """The outcome of a message the ledger did not let out, or None: send it."""
    earlier = decision.latest
    if decision.verdict is Verdict.SEND:
        return None
    assert earlier is not None
    if decision.verdict is Verdict.ACCEPTED:
        return Outcome(m, earlier.provider_id, DUPLICATE, existing=earlier)
    if decision.verdict is Verdict.HELD:
        return Outcome(m, earlier.provider_id, QUEUED, existing=earlier)
    error = ledger.Unsettled(earlier.message_id, asked=earlier.message_id in asked)
    return Outcome(m, earlier.provider_id, UNKNOWN, error=error, existing=earlier)


def _call(pending: list[Message], route_ids: Sequence[str], env: Env) -> list[Outcome]:
    store = env.store()
    outcomes: list[Outcome] = []
    for position, provider_id in enumerate(route_ids):
        if not pending:
            break
        if position:
            pending = [for_provider(m, provider_id, env) for m in pending]
            store.reroute([m.message_id for m in pending], provider_id)
        try:
            results = env.provider(provider_id).send(pending)
        except ProviderError as exc:
            exc.provider_id = exc.provider_id or provider_id
            last = position == len(route_ids) - 1
            if exc.not_accepted and not last:
                env.warn(f"{provider_id}: {exc.message}; trying {route_ids[position + 1]}")
                continue
            _record_error(store, pending, exc, env)
            state = REJECTED if exc.not_accepted else UNKNOWN
            outcomes.extend(Outcome(m, provider_id, state, error=exc) for m in pending)
            return outcomes
        except KmsgError as exc:  # a config problem of this provider (missing secret, ...)
            store.record_call_error([m.message_id for m in pending], exc, env.clock.now_ms(), 0)
            raise
        outcomes.extend(_record_results(store, pending, results, provider_id, env))
        pending = []
    return outcomes


def _record_results(
    store: JournalStore,
    messages: Sequence[Message],
    results: Sequence[SendResult],
    provider_id: str,
    env: Env,
) -> list[Outcome]:
    now = env.clock.now_ms()
    by_id = {r.message_id: r for r in results}
    first = {at: env.schedule.first_check(now, at) for at in {m.scheduled_at for m in messages}}
    checks = {m.message_id: first[m.scheduled_at] for m in messages}
    outcomes = []
    for m in messages:
        r = by_id.get(m.message_id)
        if r is None:  # the provider skipped it: do not assume either way (BULK-8)
            r = SendResult(
                m.message_id,
                Status.PENDING,
                code="missing",
                error="no result for this message",
                error_class="unknown_outcome",
            )
        state = ACCEPTED if r.accepted else REJECTED
        if r.error_class == "unknown_outcome":
            state = UNKNOWN
        outcomes.append(Outcome(m, provider_id, state, result=r))
    try:
        offset = env.provider(provider_id).clock_offset_ms
        store.record_results([o.result for o in outcomes if o.result], now, checks, offset)
    except Exception as exc:  # the provider accepted: bookkeeping errors never change that (SEND-7)
        env.warn(f"sent, but recording the result failed ({exc}); `kmsg track` will reconcile")
    return outcomes


def _record_error(
    store: JournalStore, messages: Sequence[Message], exc: ProviderError, env: Env
) -> None:
    now = env.clock.now_ms()
    offset = env.provider(exc.provider_id).clock_offset_ms if exc.provider_id else None
    ids = [m.message_id for m in messages]
    store.record_call_error(ids, exc, now, env.schedule.first_check(now, None), offset)


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """0 all accepted (now, before, or held for later); 75 if any outcome is unknown; one shared
    error's own code; else 1."""
    outcomes = list(outcomes)
    failed = [o for o in outcomes if o.state in (REJECTED, UNKNOWN, SUPPRESSED)]
    if not failed:
        return ExitCode.OK
    if any(o.state == UNKNOWN for o in failed):
        return ExitCode.TEMPFAIL
    codes = {o.error.exit_code if o.error else ExitCode.FAILED for o in failed}
    if len(failed) == len(outcomes) and len(codes) == 1:
        return codes.pop()
    return ExitCode.FAILED
