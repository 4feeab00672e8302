"""SOLAPI's ``[providers.ID]`` keys."""

from __future__ import annotations

from typing import ClassVar, Literal

from kmsg_cli.providers.settings import ProviderSettings


class SolapiSettings(ProviderSettings):
    secret_keys: ClassVar[frozenset[str]] = frozenset({"api_key", "api_secret", "kakao_pf_id"})

    type: Literal["solapi"]
    api_key: str
    api_secret: str
    kakao_pf_id: str | None = None  # the Kakao channel (pfId) AlimTalk is sent from
