"""Aligo adapter: form-encoded SMS on apis.aligo.in, AlimTalk on kakaoapi.

Wire facts: docs/providers.md#aligo."""

from kmsg_cli.providers.aligo.provider import AligoProvider

__all__ = ["AligoProvider"]
