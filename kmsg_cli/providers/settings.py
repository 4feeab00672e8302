"""The base of every provider's settings model: one ``[providers.ID]`` table (docs/plugins.md).

A provider's model subclasses ``ProviderSettings``: it adds its own keys, names which of them hold
secrets (``secret_keys``: ``env:NAME``, ``file:PATH`` or a literal, resolved only when used, masked
when shown) and may list old key names it still accepts (``renamed``). Unknown keys are rejected
and types are strict (CFG-11). Imported only to validate a config file (pydantic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator


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


# TOML has inf and nan: neither is a timeout, a rate or a balance
Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class ProviderSettings(BaseModel):
    """The keys every provider has. ``default_from`` is the sender number a message without
    ``--from`` is sent from, under that one name for every provider (README.md#provider-plugins)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # keys holding secrets; old key name -> its current name, accepted with a warning
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    renamed: ClassVar[Mapping[str, str]] = {}

    type: str
    base_url: HttpUrl | None = None
    timeout_seconds: Positive = 10.0
    rate_per_second: Positive | None = None
    max_batch: int | None = Field(default=None, ge=1)
    default_from: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any, info: ValidationInfo) -> Any:
        """An old key name becomes the current one; the note goes to ``info.context``."""
        if not isinstance(data, dict) or not (old := [k for k in cls.renamed if k in data]):
            return data
        data = dict(data)
        for key in old:
            new = cls.renamed[key]
            if new in data:
                raise ValueError(f"{key} is the old name of {new}: set {new} only")
            data[new] = data.pop(key)
            if info.context is not None:
                info.context.setdefault("renamed", []).append((key, new))
        return data
