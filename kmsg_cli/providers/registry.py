"""Provider types: the built-in ones and those installed under the ``kmsg.providers`` entry-point
group, each a ``ProviderPlugin`` (providers/plugin.py, docs/plugins.md). Only the plugin of a
type in use is imported, and its adapter only when a provider is built (start-up stays fast,
NET-13); entry points are read only for a type kmsg does not ship."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from kmsg_cli.errors import ConfigError
from kmsg_cli.providers.plugin import Capabilities, Deps, ProviderPlugin

if TYPE_CHECKING:
    from kmsg_cli.config import ProviderConfig
    from kmsg_cli.core.ports import Provider

__all__ = ["Deps", "build", "capabilities", "plugin"]

GROUP = "kmsg.providers"
BUILTIN = ("mock", "solapi", "iwinv", "aligo")  # each a package kmsg_cli.providers.<type>


@cache
def plugin(kind: str) -> ProviderPlugin:
    if kind in BUILTIN:
        found: ProviderPlugin = importlib.import_module(f"kmsg_cli.providers.{kind}").PLUGIN
        return found
    from importlib.metadata import entry_points  # only for a type kmsg does not ship

    points = [ep for ep in entry_points(group=GROUP) if ep.name == kind]
    if len(points) > 1:
        raise ConfigError(f"provider type {kind!r} is registered by more than one plugin")
    if not points:
        raise ConfigError(
            f"unknown provider type {kind!r}",
            hint=f"built in: {', '.join(BUILTIN)}; installed plugins: {', '.join(installed()) or 'none'}",
        )
    try:
        loaded = points[0].load()
    except Exception as exc:  # a broken plugin is a config problem, not a crash
        raise ConfigError(
            f"the plugin for provider type {kind!r} ({points[0].value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(loaded, ProviderPlugin) or loaded.kind != kind:
        raise ConfigError(
            f"the {GROUP} entry point {kind!r} ({points[0].value}) is not a ProviderPlugin "
            f"of type {kind!r}",
            hint="see docs/plugins.md",
        )
    return loaded


def installed() -> list[str]:
    """The provider types installed plugins register."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=GROUP)} - set(BUILTIN))


def capabilities(kind: str) -> Capabilities:
    """What a provider type can do, known without building it (no secrets resolved)."""
    return plugin(kind).capabilities


def build(provider_id: str, config: ProviderConfig, deps: Deps) -> Provider:
    provider: Provider = plugin(config.type).adapter_class()(provider_id, config, deps)
    return provider
