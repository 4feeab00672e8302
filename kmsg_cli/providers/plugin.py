"""The provider port: what a provider package gives kmsg (docs/plugins.md).

A provider package, built in or installed under the ``kmsg.providers`` entry-point group, exports
one ``ProviderPlugin``: its type name, its capabilities, and where its settings model and its
adapter class live. Both are named as ``"module:attribute"`` and imported only when needed: the
settings model (pydantic) when a config file naming the type is validated, the adapter when a
provider of that type is built. So this module, and a plugin's top-level module, stay light: kmsg
reads capabilities on every send without loading pydantic models or HTTP code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kmsg_cli.config import resolve_secret
from kmsg_cli.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from kmsg_cli.config import ProviderConfig
    from kmsg_cli.core.models import MessageType
    from kmsg_cli.core.ports import Clock


@dataclass(frozen=True)
class Capabilities:
    """What a provider type can do, known without building it (no secret resolved, no I/O)."""

    types: frozenset[MessageType]  # the message types it sends
    max_batch: int  # messages in one send call, unless the config's max_batch says fewer or more
    # (min, max) seconds ahead the provider itself holds a scheduled send; outside it, or None,
    # kmsg's own queue holds the message until it is due
    schedule_window: tuple[int, int] | None = None
    native_failover: bool = False  # sends an AlimTalk's SMS fallback itself
    status: bool = True  # status() reports delivery; False: tracking can only time out
    templates: bool = False  # lists its AlimTalk templates (templates(), template(code))
    senders: bool = False  # lists its registered sender numbers (senders())
    # which of create/update/delete/request it can do to a template (manage_template())
    template_admin: frozenset[str] = frozenset()
    # the config key naming its Kakao channel (SOLAPI pfId, Aligo sender key); None: no such key
    channel_key: str | None = None


@dataclass(frozen=True)
class ProviderPlugin:
    """One provider type. ``settings`` and ``adapter`` are ``"module:attribute"`` references."""

    kind: str  # the ``type = "..."`` a config names it by
    capabilities: Capabilities
    settings: str  # a kmsg_cli.providers.settings.ProviderSettings subclass
    adapter: str  # a class called as adapter(provider_id, config, deps)

    def settings_model(self) -> Any:
        return load(self.settings)

    def adapter_class(self) -> Any:
        return load(self.adapter)


@dataclass
class Deps:
    """What an adapter may use: the process's one HTTP client (created on first use) and a clock."""

    http: Callable[[], httpx.Client]
    clock: Clock


class Adapter:
    """Base of an adapter: the ``Provider`` attributes (core/ports.py) from its plugin's
    capabilities and the config. A subclass sets ``plugin`` and implements the methods."""

    plugin: ClassVar[ProviderPlugin]

    def __init__(self, provider_id: str, config: ProviderConfig, deps: Deps) -> None:
        caps = self.plugin.capabilities
        self.id = provider_id
        self.kind = self.plugin.kind
        self.config = config
        self.clock = deps.clock
        self.types = caps.types
        self.max_batch: int = config.max_batch or caps.max_batch
        self.native_failover = caps.native_failover
        self.native_schedule = caps.schedule_window is not None

    @property
    def clock_offset_ms(self) -> int | None:
        """The provider's clock minus ours in ms, where its answers tell (their ``Date``)."""
        return None

    def secret(self, key: str) -> str:
        """A secret key's value, its ``env:``/``file:`` reference resolved now, when a request
        needs it (CFG-1). Unset or unresolvable: a ConfigError naming ``providers.ID.KEY``."""
        name = f"providers.{self.id}.{key}"
        value = getattr(self.config, key, None)
        if not value:
            raise ConfigError(f"{name} is not set", hint=f"add {key} under [providers.{self.id}]")
        return resolve_secret(value, name)


def load(target: str) -> Any:
    """``"module:attribute"``; a plugin that cannot be imported is a ConfigError (exit 78)."""
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {target}: {type(exc).__name__}: {exc}") from None
