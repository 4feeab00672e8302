"""Shell completion of option values: message types, statuses, provider ids and provider types
(`kmsg config`'s --type and --provider TYPE complete provider types with its own list).

A completion runs on every Tab press, so it is fast and never fails: provider ids are read from the
config file's ``[providers.*]`` table names with tomllib alone (no validation, no secrets), and any
problem completes nothing rather than printing an error into the user's shell.
"""

from __future__ import annotations

import typer

from kmsg_cli import config
from kmsg_cli.core.models import MessageType, Status


def _starting(values: list[str], incomplete: str, *, any_case: bool = False) -> list[str]:
    """The values that start with what was typed. ``any_case``: kmsg takes the value in either
    case, so typing "de" offers "delivered" (typer keeps only candidates that start with the
    typed text exactly)."""
    if any_case and incomplete and incomplete.islower():
        values = [v.lower() for v in values]
    return [v for v in values if v.startswith(incomplete)]


def complete_types(incomplete: str) -> list[str]:
    return _starting([t.value for t in MessageType], incomplete, any_case=True)


def complete_statuses(incomplete: str) -> list[str]:
    return _starting([s.value for s in Status], incomplete, any_case=True)


def complete_job_statuses(incomplete: str) -> list[str]:
    """The local queue's job statuses (core/models.py Job)."""
    return _starting(["pending", "processing", "completed", "failed", "cancelled"], incomplete)


def complete_provider_types(incomplete: str) -> list[str]:
    from kmsg_cli.providers.registry import BUILTIN

    return _starting(list(BUILTIN), incomplete)


def complete_provider_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    return _starting(provider_ids(_config_flag(ctx)), incomplete)


def provider_ids(flag: str | None = None) -> list[str]:
    """The provider ids of the config kmsg would use (the built-in mock without one)."""
    import tomllib

    try:
        path = config.config_path(flag)
        if not path.exists():
            return list(config.EMBEDDED_DEFAULT.providers)
        providers = tomllib.loads(path.read_text(encoding="utf-8")).get("providers", {})
        return [str(key) for key in providers] if isinstance(providers, dict) else []
    except Exception:  # a broken file or an unreadable home: complete nothing, say nothing
        return []


def _config_flag(ctx: typer.Context | None) -> str | None:
    """--config as typed before the word being completed, on the command or the root."""
    while ctx is not None:
        value = ctx.params.get("config")
        if isinstance(value, str) and value:
            return value
        ctx = ctx.parent  # type: ignore[assignment]
    return None
