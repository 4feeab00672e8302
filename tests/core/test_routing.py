from __future__ import annotations

import pytest

from kmsg_cli.core.models import MessageType
from kmsg_cli.core.routing import route
from kmsg_cli.errors import ConfigError, InputError

SMS_ONLY = frozenset({MessageType.SMS, MessageType.LMS})
ALL = frozenset(MessageType)


def _route(kind: MessageType, caps: dict[str, frozenset[MessageType]], **kw: object) -> list[str]:
    cursor = iter(range(100))
    params: dict[str, object] = {
        "explicit": None,
        "by_type": {},
        "default": None,
        "strategy": "first",
    }
    params.update(kw)
    ids, _ = route(kind, capabilities=caps, advance=lambda key, n: next(cursor) % n, **params)  # type: ignore[arg-type]
    return ids


def test_explicit_wins_or_fails_never_reroutes() -> None:
    caps = {"a": SMS_ONLY, "b": ALL}
    assert _route(MessageType.SMS, caps, explicit="a", default="b") == ["a"]
    with pytest.raises(ConfigError, match="cannot send ALIMTALK"):
        _route(MessageType.ALIMTALK, caps, explicit="a")
    with pytest.raises(InputError, match="unknown provider"):
        _route(MessageType.SMS, caps, explicit="zzz")


def test_by_type_list_keeps_only_capable_providers_as_fallbacks() -> None:
    caps = {"a": SMS_ONLY, "b": ALL, "c": ALL}
    assert _route(MessageType.ALIMTALK, caps, by_type={"ALIMTALK": ["a", "b", "c"]}) == ["b", "c"]


def test_default_then_first_capable_then_error() -> None:
    caps = {"a": SMS_ONLY, "b": ALL}
    assert _route(MessageType.SMS, caps, default="b") == ["b"]
    assert _route(MessageType.ALIMTALK, caps, default="a") == ["b"]
    with pytest.raises(ConfigError, match="no provider can send ALIMTALK"):
        _route(MessageType.ALIMTALK, {"a": SMS_ONLY})


def test_round_robin_rotates_among_eligible_only() -> None:
    caps = {"a": ALL, "x": SMS_ONLY, "b": ALL}
    by_type = {"ALIMTALK": ["a", "x", "b"]}
    cursor = iter([0, 1, 0])
    firsts = []
    for _ in range(3):
        ids, _ = route(
            MessageType.ALIMTALK,
            explicit=None,
            by_type=by_type,
            default=None,
            strategy="round_robin",
            capabilities=caps,
            advance=lambda k, n: next(cursor) % n,
        )
        firsts.append(ids[0])
    assert firsts == ["a", "b", "a"]
