"""The delivery ledger: the one place that decides whether a message may go out.

Every send path (single send, bulk rows, queue jobs, failover fallbacks) names each logical message
with a *key* and a *fingerprint* (what the message is: recipient, type, sender, text or template and
variables, subject, send time). Each try at sending it is an *attempt*, a row of the tracking table
numbered 1, 2, ... under the key. The store writes attempts; this module says what the latest
attempt allows (``decide``) and which state changes are legal (``TRANSITIONS``). See
docs/reliability.md for the contract this implements.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kmsg_cli.core.models import Message, Record, SendState
from kmsg_cli.errors import InputError, TemporaryError

TRANSITIONS: dict[SendState, frozenset[SendState]] = {
    SendState.PLANNED: frozenset({SendState.IN_FLIGHT, SendState.REFUSED}),
    SendState.IN_FLIGHT: frozenset(
        {SendState.ACCEPTED, SendState.REFUSED, SendState.REJECTED, SendState.UNKNOWN}
    ),
    # settlement: the provider has it (accepted or rejected at registration) or provably never got it
    SendState.UNKNOWN: frozenset({SendState.ACCEPTED, SendState.REJECTED, SendState.REFUSED}),
    SendState.ACCEPTED: frozenset(),
    SendState.REFUSED: frozenset(),
    SendState.REJECTED: frozenset(),
}
UNSETTLED = frozenset({SendState.IN_FLIGHT, SendState.UNKNOWN})
# states after which the same logical message may be tried again, as a new attempt
RETRYABLE = frozenset({SendState.REFUSED, SendState.REJECTED})


def allowed(current: SendState, new: SendState) -> bool:
    return new in TRANSITIONS[current]


class Verdict(StrEnum):
    """The ledger's one answer to "may this message go out?"."""

    SEND = "send"  # first attempt, or a retry after a refusal/rejection, or a held one's turn
    ACCEPTED = "accepted"  # already accepted: say so, send nothing
    HELD = "held"  # waiting in the local queue: it goes out at its time
    SETTLE = (
        "settle"  # an earlier attempt's outcome is unknown: settle it first, never resend blind
    )


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    attempt: int  # the attempt number to write (SEND), or the latest attempt's
    latest: Record | None = None


_FIRST = Decision(Verdict.SEND, 1)  # the common answer, made once (a Decision never changes)


def decide(message: Message, latest: Record | None) -> Decision:
    """What may happen to ``message`` given the latest attempt under its key. Content conflicts
    are checked before this (``check_same``), for the whole command at once."""
    if latest is None:
        return _FIRST
    if latest.send_state is SendState.PLANNED:
        if latest.message_id == message.message_id:  # the queue job holding it: its turn now
            return Decision(Verdict.SEND, latest.attempt, latest)
        return Decision(Verdict.HELD, latest.attempt, latest)
    if latest.send_state is SendState.ACCEPTED:
        return Decision(Verdict.ACCEPTED, latest.attempt, latest)
    if latest.send_state in RETRYABLE:
        return Decision(Verdict.SEND, latest.attempt + 1, latest)
    return Decision(Verdict.SETTLE, latest.attempt, latest)


# ---- fingerprints ---------------------------------------------------------------------------

FIELDS = ("recipient", "type", "sender", "text", "subject", "image", "template", "variables", "at")
# fields a fingerprint has only when the message has them, so every fingerprint written before
# they existed stays valid
OPTIONAL_FIELDS = ("buttons",)


def fingerprint(m: Message, recipients: Iterable[str] | None = None) -> str:
    """``field=digest`` pairs, so a conflict can name what differs without storing the text.

    ``recipients``: every recipient the key covers (a `kmsg send --to A,B --idempotency-key K`
    names one send to A and B; the same key with other recipients is other content)."""
    who = ",".join(sorted(set(recipients))) if recipients is not None else m.to
    values = (
        who,
        m.type.value,
        m.sender or "",
        m.text,
        m.subject or "",
        m.image or "",
        m.template_id or "",
        "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(m.variables.items())),
        "" if m.scheduled_at is None else str(m.scheduled_at),
    )
    pairs = [f"{name}={_digest(v)}" for name, v in zip(FIELDS, values, strict=True)]
    if m.buttons:
        shown = json.dumps([b.as_dict() for b in m.buttons], ensure_ascii=False, sort_keys=True)
        pairs.append(f"buttons={_digest(shown)}")
    return ";".join(pairs)


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()


def differences(a: str, b: str) -> list[str]:
    """The fields two fingerprints disagree on (all of them if either is not a fingerprint)."""
    left = dict(p.partition("=")[::2] for p in a.split(";"))
    right = dict(p.partition("=")[::2] for p in b.split(";"))
    known = {*FIELDS, *OPTIONAL_FIELDS}
    if not set(FIELDS) <= set(left) <= known or not set(FIELDS) <= set(right) <= known:
        return ["content"]
    return [name for name in (*FIELDS, *OPTIONAL_FIELDS) if left.get(name) != right.get(name)]


class Unsettled(TemporaryError):
    """An earlier attempt may have reached the provider and is not settled (exit 75): nothing is
    sent. ``asked``: its provider was asked just now and cannot tell, so waiting will not help;
    `kmsg track` follows the message."""

    code = "unsettled"

    def __init__(self, message_id: str, *, asked: bool) -> None:
        hint = (
            "its provider cannot tell whether it has it: `kmsg status ID` follows it"
            if asked
            else "rerun in a minute (the provider is asked first), or run `kmsg track --once`"
        )
        super().__init__(
            f"an earlier attempt ({message_id}) may have reached the provider; not sent again",
            hint=hint,
        )
        self.asked = asked


class KeyConflict(InputError):
    """The key was used before for a different message (exit 65): nothing is sent."""

    code = "idempotency_conflict"


def check_same(key: str, ours: str | None, theirs: str | None) -> None:
    """Raise KeyConflict when the key's earlier attempt was for other content."""
    if ours is None or theirs is None or ours == theirs:
        return
    what = differences(ours, theirs)
    label = {"recipient": "recipients", "at": "send time", "template": "template id"}
    named = ", ".join(label.get(w, w) for w in what)
    raise KeyConflict(
        f"idempotency key {key!r} was used for a different message ({named} differ); nothing sent",
        hint="use a new key for new content, or repeat the original command exactly",
    )
