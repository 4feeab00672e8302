"""Aligo's ``[providers.ID]`` keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from kmsg_cli.providers.settings import HttpUrl, ProviderSettings


class AligoSettings(ProviderSettings):
    secret_keys: ClassVar[frozenset[str]] = frozenset({"api_key", "user_id", "sender_key", "token"})
    renamed: ClassVar[Mapping[str, str]] = {"sender": "default_from"}

    type: Literal["aligo"]
    api_key: str
    user_id: str
    sender_key: str | None = None  # the Kakao channel's sender key, for AlimTalk
    test_mode: bool = False
    kakao_base_url: HttpUrl | None = None
    # Kakao API token from /akv10/token/create/: Aligo's docs require it, many integrations omit it
    # (docs/providers.md#aligo-credentials-and-test-mode)
    token: str | None = None
