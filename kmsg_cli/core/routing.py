"""Routing (README.md#configuration, ROUTE-1..5): which providers, in which order, may send a type.

explicit --provider -> routing.by_type[type] -> routing.default -> first capable provider -> error.
The first id of the returned route is tried first; the rest only after an error that proves the
message was not accepted. ``round_robin`` rotates the eligible list with a cursor the caller
persists (the store), advanced exactly once per message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kmsg_cli.core.models import MessageType
from kmsg_cli.errors import ConfigError, InputError


def route(
    kind: MessageType,
    *,
    explicit: str | None,
    by_type: Mapping[str, str | list[str]],
    default: str | None,
    strategy: str,
    capabilities: Mapping[str, frozenset[MessageType]],
    advance: Callable[[str, int], int],
) -> tuple[list[str], str]:
    """Return (ordered provider ids, reason). ``advance(key, n)`` returns the next cursor in [0, n)."""
    if explicit:
        if explicit not in capabilities:
            known = ", ".join(capabilities) or "none"
            raise InputError(f"unknown provider {explicit!r} (configured: {known})")
        if kind not in capabilities[explicit]:
            raise ConfigError(f"provider {explicit!r} cannot send {kind.value}")
        return [explicit], "--provider"
    listed = by_type.get(kind.value)
    if listed:
        ids = [listed] if isinstance(listed, str) else list(listed)
        eligible = [pid for pid in ids if kind in capabilities[pid]]
        if eligible:
            if strategy == "round_robin" and len(eligible) > 1:
                start = advance(f"by_type.{kind.value}", len(eligible))
                eligible = eligible[start:] + eligible[:start]
            return eligible, f"routing.by_type.{kind.value}"
    if default and kind in capabilities[default]:
        return [default], "routing.default"
    for pid, caps in capabilities.items():
        if kind in caps:
            return [pid], "first provider that can send it"
    raise ConfigError(f"no provider can send {kind.value}", hint="add one under [providers]")
