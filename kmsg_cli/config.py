"""Configuration: the Settings kmsg runs with, secret references, file locations.

Settings are plain frozen dataclasses. A config file is parsed here and validated by the pydantic
models of ``config_schema`` (same names, fields and defaults), imported only then, and each
``[providers.ID]`` table by its provider type's own settings model (docs/plugins.md): with no config
file, kmsg runs on ``EMBEDDED_DEFAULT`` (the mock) and never loads pydantic.

Locations: ``--config`` > ``KMSG_CONFIG`` > ``$KMSG_HOME/config.toml`` > the platformdirs user config
dir. The database: ``--db`` > ``KMSG_DB`` > ``[store] url`` > ``[store] path`` > ``$KMSG_HOME/kmsg.db``
> the platformdirs user data dir; a ``postgresql://`` URL anywhere in that chain is PostgreSQL. Secrets (``env:NAME``, ``file:PATH`` or a literal) are resolved only when
the provider that holds them is used (CFG-1), and a missing one names the key and the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from kmsg_cli.errors import ConfigError


@dataclass(frozen=True)
class ProviderConfig:
    """One ``[providers.ID]`` table as kmsg runs with it: its type, every key of that type's
    settings model in the model's order (defaults filled in), and which keys hold secrets. The
    model, in the provider's own package, validates the table (docs/plugins.md); an adapter reads
    a key as an attribute (``config.api_key``)."""

    type: str
    values: Mapping[str, Any] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()
    renamed: tuple[tuple[str, str], ...] = ()  # (old key, current key) the file still used

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def secrets(self) -> dict[str, str]:
        """The secret keys that are set, with their values as written (references or literals)."""
        return {
            k: v for k, v in self.values.items() if k in self.secret_keys and isinstance(v, str)
        }


# the common keys of every provider (providers/settings.py ProviderSettings), then the mock's own
MOCK_DEFAULTS: dict[str, Any] = {
    "base_url": None,
    "timeout_seconds": 10.0,
    "rate_per_second": None,
    "max_batch": None,
    "default_from": "0212345678",
    "balance": 100_000.0,
}


# The constraints on each field (ranges, URLs, strict types, unknown keys) are in config_schema.py.


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    default: str | None = None
    strategy: Literal["first", "round_robin"] = "first"
    by_type: dict[str, str | list[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SmsDefaults:
    auto_lms_bytes: int = 90


@dataclass(frozen=True, kw_only=True)
class Defaults:
    sms: SmsDefaults = field(default_factory=SmsDefaults)


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    path: str | None = None
    url: str | None = None  # postgresql://... (docs/storage.md)
    password: str | None = None  # for url: env:NAME, file:PATH or a literal


@dataclass(frozen=True, kw_only=True)
class TrackingConfig:
    initial_delay_seconds: int = 30
    scheduled_grace_seconds: int = 120
    backoff_seconds: list[int] = field(default_factory=lambda: [30, 120, 600, 1800, 7200])
    max_duration_seconds: int = 86_400
    batch_size: int = 200
    concurrency: int = 10
    retention_days: int = 365
    settle_after_seconds: int = 60
    not_kakao_user_codes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HooksConfig:
    """Delivery events out (docs/hooks.md): a command given each final event on stdin, and/or a
    webhook given every event, signed with ``webhook_secret`` (a secret: ``env:``/``file:``)."""

    on_final: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    timeout_seconds: float = 10.0
    backoff_seconds: list[int] = field(default_factory=lambda: [10, 60, 300, 1800, 7200])
    max_attempts: int = 20

    def targets(self) -> tuple[str, ...]:
        """Where events go: "command", "webhook", both or none."""
        return tuple(
            name
            for name, value in (("command", self.on_final), ("webhook", self.webhook_url))
            if value
        )


@dataclass(frozen=True, kw_only=True)
class Settings:
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    defaults: Defaults = field(default_factory=Defaults)
    prices: dict[str, float] = field(default_factory=dict)
    store: StoreConfig = field(default_factory=StoreConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)


# what kmsg runs with when there is no config file: the mock alone
EMBEDDED_DEFAULT = Settings(providers={"mock": ProviderConfig("mock", MOCK_DEFAULTS)})


def home() -> Path | None:
    value = os.environ.get("KMSG_HOME")
    return Path(value).expanduser() if value else None


def config_path(flag: str | None = None) -> Path:
    if flag:
        return Path(flag).expanduser()
    if env := os.environ.get("KMSG_CONFIG"):
        return Path(env).expanduser()
    if h := home():
        return h / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("kmsg")) / "config.toml"


DB_URL_SCHEMES = ("postgresql://", "postgres://")


def is_db_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(DB_URL_SCHEMES)


_URI_PASSWORD = re.compile(r"^(postgres(?:ql)?://[^:/@?]*):[^@/?]*@")
_PARAM_PASSWORD = re.compile(r"(password=)('(?:[^'\\]|\\.)*'|[^&\s]*)")


def mask_db_url(url: str) -> str:
    """A database URL as kmsg shows it: any password (user:pass@ or password=) is ***."""
    return _PARAM_PASSWORD.sub(r"\1***", _URI_PASSWORD.sub(r"\1:***@", url))


def db_location(settings: Settings, flag: str | None = None) -> str | None:
    """What the user chose: --db > KMSG_DB > [store] url > [store] path (None: the default)."""
    return flag or os.environ.get("KMSG_DB") or settings.store.url or settings.store.path


def db_url(settings: Settings, flag: str | None = None) -> str | None:
    """The PostgreSQL URL when the chosen database is one, else None (SQLite)."""
    location = db_location(settings, flag)
    return location if is_db_url(location) else None


def db_password(settings: Settings) -> str | None:
    """[store] password, resolved (only for a URL that comes from the config)."""
    value = settings.store.password
    return resolve_secret(value, "store.password") if value else None


def db_path(settings: Settings, flag: str | None = None) -> Path:
    """The SQLite file. With a PostgreSQL URL chosen, where that file would be by default: the
    folder kmsg keeps its local files in (send-bulk's copy of stdin)."""
    location = db_location(settings, flag)
    if location and not is_db_url(location):
        return Path(location).expanduser()
    if h := home():
        return h / "kmsg.db"
    import platformdirs

    return Path(platformdirs.user_data_dir("kmsg")) / "kmsg.db"


def db_named(settings: Settings, flag: str | None = None) -> bool:
    """Whether the user named the database (--db, KMSG_DB, [store] url/path) rather than taking
    the default under KMSG_HOME or the user data dir, which kmsg creates on its first run."""
    return db_location(settings, flag) is not None


def explicit_config(flag: str | None) -> bool:
    return bool(flag or os.environ.get("KMSG_CONFIG"))


def load(path: Path, *, required: bool) -> Settings | None:
    """Read and validate ``path``. Missing and not required: None (the caller uses the default)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"config file not found: {path}", hint="run `kmsg config init`"
            ) from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    from kmsg_cli import config_cache  # a file checked before is not checked again

    settings = config_cache.load(raw, path)
    if settings is None:
        settings = parse(raw, str(path))
        config_cache.save(raw, path, settings)
    return settings


def parse(raw: bytes, source: str) -> Settings:
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return validate(data, source)


def validate(data: dict[str, Any], source: str) -> Settings:
    """A parsed document -> Settings, checked by the pydantic schema (imported only now)."""
    from kmsg_cli import config_schema

    return config_schema.validate(data, source)


def resolve_secret(value: str, key: str) -> str:
    """``env:NAME`` and ``file:PATH`` references, or a literal. ``key`` names the setting in errors."""
    if value.startswith("env:"):
        name = value[4:]
        resolved = os.environ.get(name)
        if not resolved:
            raise ConfigError(
                f"{key}: environment variable {name} is not set", hint=f"export {name}=..."
            )
        return resolved
    if value.startswith("file:"):
        file = Path(value[5:]).expanduser()
        try:
            resolved = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read secret file {file}: {exc.strerror}") from None
        if not resolved:
            raise ConfigError(f"{key}: secret file {file} is empty")
        return resolved
    return value


def check_secrets(provider_id: str, cfg: ProviderConfig) -> None:
    """Resolve every secret a provider holds (discarding the values): a missing one is a
    ConfigError naming ``providers.ID.KEY`` and the variable or file."""
    for key, value in sorted(cfg.secrets().items()):
        resolve_secret(value, f"providers.{provider_id}.{key}")


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def masked(value: str) -> str:
    """How a secret setting is shown: references as written, literals hidden."""
    return value if is_reference(value) else "****"


def redacted_dict(settings: Settings) -> dict[str, Any]:
    providers = {
        pid: {"type": cfg.type, **cfg.values} | {k: masked(v) for k, v in cfg.secrets().items()}
        for pid, cfg in settings.providers.items()
    }
    hooks = settings.hooks
    if hooks.webhook_secret is not None:
        hooks = replace(hooks, webhook_secret=masked(hooks.webhook_secret))
    data: dict[str, Any] = _without_none(
        asdict(replace(settings, providers={}, hooks=hooks)) | {"providers": providers}
    )
    store = data.get("store", {})
    if store.get("password"):
        store["password"] = masked(store["password"])
    if store.get("url"):
        store["url"] = mask_db_url(store["url"])
    return data


def _without_none(value: Any) -> Any:
    """Unset keys dropped at every level, as ``config show`` prints them."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def has_literal_secrets(settings: Settings) -> bool:
    store = settings.store
    if store.password and not is_reference(store.password):
        return True
    if store.url and mask_db_url(store.url) != store.url:
        return True
    secret = settings.hooks.webhook_secret
    return (secret is not None and not is_reference(secret)) or any(
        not is_reference(value)
        for cfg in settings.providers.values()
        for value in cfg.secrets().values()
    )


def deprecations(settings: Settings) -> list[str]:
    """Old key names the file still uses: accepted, each with the name to use instead."""
    return [
        f"providers.{pid}.{old} is deprecated: rename it {new} (same value)"
        for pid, cfg in settings.providers.items()
        for old, new in cfg.renamed
    ]
