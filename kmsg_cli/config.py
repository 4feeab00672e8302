"""Configuration: TOML -> pydantic Settings, secret references, file locations.

Locations: ``--config`` > ``KMSG_CONFIG`` > ``$KMSG_HOME/config.toml`` > the platformdirs user config
dir. The database: ``--db`` > ``KMSG_DB`` > ``[store] path`` > ``$KMSG_HOME/kmsg.db`` > the
platformdirs user data dir. Secrets (``env:NAME``, ``file:PATH`` or a literal) are resolved only when
the provider that holds them is used (CFG-1), and a missing one names the key and the variable.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kmsg_cli.core.models import MessageType
from kmsg_cli.errors import ConfigError

SECRET_FIELDS = frozenset(
    {
        "api_key",
        "api_secret",
        "sms_api_key",
        "sms_auth_key",
        "sender_key",
        "kakao_pf_id",
        "user_id",
        "token",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _http_url(value: str) -> str:
    # the value itself is not echoed: a URL can carry credentials (https://user:pass@host)
    expected = "must be an http:// or https:// URL with a host"
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is not a number in 0-65535 raises only when read
    except ValueError as exc:  # also a malformed host such as "http://["
        raise ValueError(f"{expected} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(expected)
    return value


# TOML has inf and nan: neither is a timeout, a rate, a price or a balance
_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # 0 is fine: a free or bundled type
_HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _ProviderBase(_Strict):
    base_url: _HttpUrl | None = None
    timeout_seconds: _Positive = 10.0
    rate_per_second: _Positive | None = None
    max_batch: int | None = Field(default=None, ge=1)


class MockConfig(_ProviderBase):
    type: Literal["mock"]
    default_from: str = "0212345678"
    balance: _Finite = 100_000.0


class SolapiConfig(_ProviderBase):
    type: Literal["solapi"]
    api_key: str
    api_secret: str
    default_from: str | None = None
    kakao_pf_id: str | None = None


class IwinvConfig(_ProviderBase):
    type: Literal["iwinv"]
    api_key: str | None = None
    sms_api_key: str | None = None
    sms_auth_key: str | None = None
    sender_number: str | None = None
    sms_base_url: _HttpUrl | None = None
    # the SMS "sending organization" id (발송 조직); needed only for SMS status lookups
    # (docs/providers.md#iwinv-delivery-status)
    sms_company_id: str | None = None


class AligoConfig(_ProviderBase):
    type: Literal["aligo"]
    api_key: str
    user_id: str
    sender_key: str | None = None
    sender: str | None = None
    test_mode: bool = False
    kakao_base_url: _HttpUrl | None = None
    # Kakao API token from /akv10/token/create/: Aligo's docs require it, many integrations omit it
    # (docs/providers.md#aligo-credentials-and-test-mode)
    token: str | None = None


ProviderConfig = Annotated[
    MockConfig | SolapiConfig | IwinvConfig | AligoConfig, Field(discriminator="type")
]


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


class Settings(_Strict):
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    routing: RoutingConfig = RoutingConfig()
    defaults: Defaults = Defaults()
    prices: dict[str, _Price] = Field(default_factory=dict)
    store: StoreConfig = StoreConfig()
    tracking: TrackingConfig = TrackingConfig()

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


EMBEDDED_DEFAULT = Settings.model_validate({"providers": {"mock": {"type": "mock"}}})


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


def db_path(settings: Settings, flag: str | None = None) -> Path:
    if flag:
        return Path(flag).expanduser()
    if env := os.environ.get("KMSG_DB"):
        return Path(env).expanduser()
    if settings.store.path:
        return Path(settings.store.path).expanduser()
    if h := home():
        return h / "kmsg.db"
    import platformdirs

    return Path(platformdirs.user_data_dir("kmsg")) / "kmsg.db"


def db_named(settings: Settings, flag: str | None = None) -> bool:
    """Whether the user named the database (--db, KMSG_DB, [store] path) rather than taking the
    default under KMSG_HOME or the user data dir, which kmsg creates on its first run."""
    return bool(flag or os.environ.get("KMSG_DB") or settings.store.path)


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
    return parse(raw, str(path))


def parse(raw: bytes, source: str) -> Settings:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    # drop the discriminator tag pydantic puts in the path of tagged unions
    if len(loc) >= 3 and loc[0] == "providers" and loc[2] in {"mock", "solapi", "iwinv", "aligo"}:
        del loc[2]
    path = ".".join(loc)
    if err["type"] == "extra_forbidden":
        return f"unknown key {path!r}"
    if err["type"] == "missing":
        return f"missing key {path!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{path}: {msg}" if path else msg


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


def check_secrets(provider_id: str, cfg: BaseModel) -> None:
    """Resolve every secret a provider holds (discarding the values): a missing one is a
    ConfigError naming ``providers.ID.KEY`` and the variable or file."""
    for key in sorted(SECRET_FIELDS):
        value = getattr(cfg, key, None)
        if isinstance(value, str):
            resolve_secret(value, f"providers.{provider_id}.{key}")


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def masked(value: str) -> str:
    """How a secret setting is shown: references as written, literals hidden."""
    return value if is_reference(value) else "****"


def redacted_dict(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json", exclude_none=True)
    for provider in data.get("providers", {}).values():
        for key in SECRET_FIELDS & provider.keys():
            provider[key] = masked(provider[key])
    return data


def has_literal_secrets(settings: Settings) -> bool:
    return any(
        isinstance(getattr(cfg, key, None), str) and not is_reference(getattr(cfg, key))
        for cfg in settings.providers.values()
        for key in SECRET_FIELDS
    )
