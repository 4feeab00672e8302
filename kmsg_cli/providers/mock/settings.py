"""The mock's ``[providers.ID]`` keys (config.MOCK_DEFAULTS is the same, for the built-in default)."""

from __future__ import annotations

from typing import Literal

from kmsg_cli.providers.settings import Finite, ProviderSettings


class MockSettings(ProviderSettings):
    type: Literal["mock"]
    default_from: str | None = "0212345678"
    balance: Finite = 100_000.0  # what `kmsg providers balance` reports
