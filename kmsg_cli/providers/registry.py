"""Build providers from config. Adapters are imported lazily (start-up stays fast, NET-13), and
third-party adapters can register under the ``kmsg.providers`` entry-point group."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmsg_cli.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from kmsg_cli.core.models import MessageType
    from kmsg_cli.core.ports import Clock, Provider

BUILTIN = {
    "mock": "kmsg_cli.providers.mock:MockProvider",
    "solapi": "kmsg_cli.providers.solapi:SolapiProvider",
    "iwinv": "kmsg_cli.providers.iwinv:IwinvProvider",
    "aligo": "kmsg_cli.providers.aligo:AligoProvider",
}


@dataclass
class Deps:
    """What an adapter may use: the process's one HTTP client (created on first use) and a clock."""

    http: Callable[[], httpx.Client]
    clock: Clock


def adapter_class(kind: str) -> Any:
    target = BUILTIN.get(kind)
    if target is None:
        from importlib.metadata import entry_points  # only for a kind kmsg does not ship

        found = [ep for ep in entry_points(group="kmsg.providers") if ep.name == kind]
        if len(found) > 1:
            raise ConfigError(f"provider type {kind!r} is registered by more than one plugin")
        if not found:
            raise ConfigError(f"unknown provider type {kind!r}")
        return found[0].load()
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build(provider_id: str, config: Any, deps: Deps) -> Provider:
    provider: Provider = adapter_class(config.type)(provider_id, config, deps)
    return provider


def capabilities(kind: str) -> frozenset[MessageType]:
    """Types a provider kind can send, known without building it (no secrets resolved)."""
    caps: frozenset[MessageType] = adapter_class(kind).TYPES
    return caps
