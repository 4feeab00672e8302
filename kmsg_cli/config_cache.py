"""The settings of a config file kmsg checked before, without checking it again.

Checking a config file loads pydantic and builds its models: about 90 ms, more than the rest of
the start-up of a `kmsg send`. A file that passed is remembered as the settings it gave, under a
key made of its exact bytes and of the code that checked it (the size and modification time of the
schema modules), in ``KMSG_HOME/cache`` or the user cache directory (README.md#configuration).

A file that differs by one byte, a kmsg whose schema modules changed, a provider type from a
plugin, or a cache entry that is missing, unreadable or does not rebuild the same settings: the
file is checked again, as without a cache. The entry holds what the file holds; a file with a
literal secret in it (not ``env:`` or ``file:``) is never remembered, so no secret is copied.
Writing is best effort (0600, atomic): a cache that cannot be written changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kmsg_cli import config
from kmsg_cli.config import (
    Defaults,
    HooksConfig,
    ProviderConfig,
    RoutingConfig,
    Settings,
    SmsDefaults,
    StoreConfig,
    TrackingConfig,
)
from kmsg_cli.providers.registry import BUILTIN

REFERENCE = ("env:", "file:")


def load(raw: bytes, path: Path) -> Settings | None:
    """The settings ``raw`` gave when kmsg last checked it, or None: check it."""
    try:
        doc = json.loads(_entry(path).read_bytes())
        if doc.get("key") != _key(raw):
            return None
        return _settings(doc["settings"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(raw: bytes, path: Path, settings: Settings) -> None:
    """Remember what checking ``raw`` gave, when it can be rebuilt exactly and holds no secret."""
    if not _cacheable(settings):
        return
    body = json.dumps({"key": _key(raw), "settings": _document(settings)}, ensure_ascii=False)
    if _settings(json.loads(body)["settings"]) != settings:  # a value JSON cannot carry as is
        return
    entry = _entry(path)
    temporary = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.replace(temporary, entry)
    except OSError:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)


def _entry(path: Path) -> Path:
    """One entry per config file (by its absolute path), so two files never evict each other."""
    home = config.home()
    if home is not None:
        folder = home / "cache"
    else:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("kmsg"))
    name = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]
    return folder / f"config-{name}.json"


def _key(raw: bytes) -> str:
    """The file's bytes and the code that checks them: any change to either is a new key."""
    digest = hashlib.sha256(raw)
    package = Path(config.__file__).parent
    checkers = ["config.py", "config_schema.py", "config_cache.py", "providers/settings.py"]
    checkers += [f"providers/{kind}/settings.py" for kind in BUILTIN]
    for name in checkers:
        stat = (package / name).stat()
        digest.update(f"\0{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _cacheable(settings: Settings) -> bool:
    secrets = [settings.store.password, settings.hooks.webhook_secret]
    for provider in settings.providers.values():
        if provider.type not in BUILTIN:  # a plugin's schema can change under the same key
            return False
        secrets += [provider.values.get(key) for key in provider.secret_keys]
    return all(value is None or str(value).startswith(REFERENCE) for value in secrets)


def _document(settings: Settings) -> dict[str, Any]:
    doc = {name: asdict(getattr(settings, name)) for name in _SECTIONS}
    doc["prices"] = dict(settings.prices)
    doc["providers"] = {
        pid: {
            "type": p.type,
            "values": dict(p.values),
            "secret_keys": sorted(p.secret_keys),
            "renamed": [list(pair) for pair in p.renamed],
        }
        for pid, p in settings.providers.items()
    }
    return doc


def _settings(doc: dict[str, Any]) -> Settings:
    providers = {
        pid: ProviderConfig(
            p["type"],
            p["values"],
            frozenset(p["secret_keys"]),
            tuple((old, new) for old, new in p["renamed"]),
        )
        for pid, p in doc["providers"].items()
    }
    return Settings(
        providers=providers,
        routing=RoutingConfig(**doc["routing"]),
        defaults=Defaults(sms=SmsDefaults(**doc["defaults"]["sms"])),
        prices=doc["prices"],
        store=StoreConfig(**doc["store"]),
        tracking=TrackingConfig(**doc["tracking"]),
        hooks=HooksConfig(**doc["hooks"]),
    )


_SECTIONS = ("routing", "defaults", "store", "tracking", "hooks")
