"""IWINV's ``[providers.ID]`` keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from kmsg_cli.providers.settings import HttpUrl, ProviderSettings


class IwinvSettings(ProviderSettings):
    secret_keys: ClassVar[frozenset[str]] = frozenset({"api_key", "sms_api_key", "sms_auth_key"})
    renamed: ClassVar[Mapping[str, str]] = {"sender_number": "default_from"}

    type: Literal["iwinv"]
    api_key: str | None = None  # AlimTalk
    sms_api_key: str | None = None  # SMS/LMS/MMS, with sms_auth_key
    sms_auth_key: str | None = None
    sms_base_url: HttpUrl | None = None
    # the SMS "sending organization" id (발송 조직); needed only for SMS status lookups
    # (docs/providers.md#iwinv-delivery-status)
    sms_company_id: str | None = None
