"""Aligo adapter (PROVIDERS.md §5): form-encoded SMS on apis.aligo.in, AlimTalk on kakaoapi."""

from kmsg_cli.providers.aligo.provider import AligoProvider

__all__ = ["AligoProvider"]
