"""The config file's schema: pydantic models that validate a parsed TOML document (unknown keys
rejected, strict types: CFG-11), then hand over the plain ``config`` dataclasses kmsg runs with.

Each ``[providers.ID]`` table is checked by the settings model of its type, which the provider's
own package holds (the registry finds it, built in or a plugin: docs/plugins.md); only the types
the file names are imported. Imported only when a config file is read, so a run on the built-in
default never loads pydantic. The field names, order and defaults here and in ``config.py`` are the
same; tests/test_config.py checks it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kmsg_cli import config
from kmsg_cli.core.models import MessageType
from kmsg_cli.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# TOML has inf and nan: neither is a price
_Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # 0 is fine: a free or bundled type


class RoutingConfig(_Strict):
    default: str | None = None
    strategy: Literal["first", "round_robin"] = "first"
    by_type: dict[str, str | list[str]] = Field(default_factory=dict)

    @field_validator("by_type")
    @classmethod
    def _known_types(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for key in value:
            MessageType(key)  # ValueError -> reported with its path
        return value


class SmsDefaults(_Strict):
    # 1..90: an SMS can never exceed 90 bytes; 0 or less is rejected, not silently 90 (BYTE-7)
    auto_lms_bytes: int = Field(default=90, ge=1, le=90)


class Defaults(_Strict):
    sms: SmsDefaults = SmsDefaults()


class StoreConfig(_Strict):
    path: str | None = None
    url: str | None = None
    password: str | None = None

    @model_validator(mode="after")
    def _one_database(self) -> StoreConfig:  # "" is unset, as the example config shows it
        if self.url and not config.is_db_url(self.url):
            raise ValueError("url must start with postgresql:// or postgres://")
        if self.url and self.path:
            raise ValueError("set either path (SQLite) or url (PostgreSQL), not both")
        if self.password and not self.url:
            raise ValueError("password is for url (PostgreSQL)")
        return self


class TrackingConfig(_Strict):
    initial_delay_seconds: int = Field(default=30, ge=0)
    scheduled_grace_seconds: int = Field(default=120, ge=0)
    # 0 or less would check a record again on every pass
    backoff_seconds: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [30, 120, 600, 1800, 7200]
    )
    max_duration_seconds: int = Field(default=86_400, ge=1)
    batch_size: int = Field(default=200, ge=1)
    concurrency: int = Field(default=10, ge=1)
    # a century at most: keeps the purge cutoff (now - days) inside SQLite's 64-bit integers
    retention_days: int = Field(default=365, ge=1, le=36_500)
    # an unanswered send is settled with its provider only once no provider can still be working
    # on it (docs/reliability.md); a day at most
    settle_after_seconds: int = Field(default=60, ge=0, le=86_400)
    # extra "not a KakaoTalk user" rules per provider type, added to the built-in table (FO-10)
    not_kakao_user_codes: dict[str, list[str]] = Field(default_factory=dict)


class HooksConfig(_Strict):
    on_final: str | None = Field(default=None, min_length=1)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    webhook_secret: str | None = Field(default=None, min_length=1)
    # one delivery's limit; a claimed event's lease is a little longer (core/hooks.py)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300, allow_inf_nan=False)
    backoff_seconds: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [10, 60, 300, 1800, 7200], min_length=1
    )
    max_attempts: int = Field(default=20, ge=1)

    @field_validator("on_final")
    @classmethod
    def _splits(cls, value: str | None) -> str | None:
        import shlex

        if value is not None and not shlex.split(value):  # ValueError: unbalanced quotes
            raise ValueError("names no command")
        return value

    @model_validator(mode="after")
    def _signed(self) -> HooksConfig:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("hooks.webhook_url needs hooks.webhook_secret to sign the events")
        return self


class Settings(_Strict):
    # each table is checked by its type's own settings model (provider_table)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    routing: RoutingConfig = RoutingConfig()
    defaults: Defaults = Defaults()
    prices: dict[str, _Price] = Field(default_factory=dict)
    store: StoreConfig = StoreConfig()
    tracking: TrackingConfig = TrackingConfig()
    hooks: HooksConfig = HooksConfig()

    @field_validator("prices")
    @classmethod
    def _price_types(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            MessageType(key)
        return value

    @model_validator(mode="after")
    def _routing_ids_exist(self) -> Settings:
        known = set(self.providers)
        named = [self.routing.default] if self.routing.default else []
        for ids in self.routing.by_type.values():
            named.extend([ids] if isinstance(ids, str) else ids)
        for pid in named:
            if pid not in known:
                raise ValueError(f"routing names provider {pid!r}, which is not under [providers]")
        return self


def validate(data: dict[str, Any], source: str) -> config.Settings:
    """A parsed document -> the settings kmsg runs with, or a ConfigError naming every problem."""
    problems: list[str] = []
    providers: dict[str, config.ProviderConfig] = {}
    tables = data.get("providers")
    for pid, table in tables.items() if isinstance(tables, dict) else ():
        if not isinstance(table, dict):
            continue  # the Settings model reports it
        try:
            providers[pid] = provider_table(pid, table)
        except ConfigError as exc:
            problems.extend(exc.problems or [exc.message])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors()] + problems
    if len(problems) == 1:
        raise ConfigError(f"{source}: {problems[0]}", problems=problems)
    if problems:
        raise ConfigError(
            f"{source}: {len(problems)} problems: " + "; ".join(problems), problems=problems
        )
    runtime: config.Settings = replace(_runtime(settings), providers=providers)
    return runtime


def provider_table(pid: str, table: dict[str, Any]) -> config.ProviderConfig:
    """One ``[providers.ID]`` table, checked by the settings model of its ``type`` (built in or
    a plugin's, docs/plugins.md); the problems name ``providers.ID.KEY``."""
    from kmsg_cli.providers import registry

    where = ("providers", pid)
    kind = table.get("type")
    if not isinstance(kind, str):
        problem = (
            f"missing key 'providers.{pid}.type'"
            if kind is None
            else f"providers.{pid}.type: must be a string"
        )
        raise ConfigError(problem, problems=[problem])
    try:
        model = registry.plugin(kind).settings_model()
    except ConfigError as exc:
        problem = f"providers.{pid}.type: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        raise ConfigError(problem, problems=[problem]) from None
    context: dict[str, Any] = {}
    try:
        checked = model.model_validate(table, context=context)
    except ValidationError as exc:
        problems = [_problem(err, where) for err in exc.errors()]
        raise ConfigError("; ".join(problems), problems=problems) from None
    values = checked.model_dump()
    del values["type"]
    return config.ProviderConfig(
        kind, values, frozenset(model.secret_keys), tuple(context.get("renamed", ()))
    )


def _runtime(value: Any) -> Any:
    """A validated model as the ``config`` dataclass of the same name, recursively."""
    if isinstance(value, BaseModel):
        cls = getattr(config, type(value).__name__)
        return cls(**{name: _runtime(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, dict):
        return {key: _runtime(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_runtime(item) for item in value]
    return value


def _problem(err: Any, where: tuple[str, ...] = ()) -> str:
    """One pydantic error as the user reads it, named by its dotted key."""
    loc = [*where, *(str(p) for p in err["loc"])]
    path = ".".join(loc)
    if err["type"] == "extra_forbidden":
        return f"unknown key {path!r}"
    if err["type"] == "missing":
        return f"missing key {path!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{path}: {msg}" if path else msg
