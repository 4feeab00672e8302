"""What the adapters say about messages they may have received (the contract of every provider
is tests/providers/test_contract.py)."""

from __future__ import annotations

import pytest

from kmsg_cli import config
from kmsg_cli.core.models import Message, MessageType
from kmsg_cli.providers import registry

CONFIGS = {
    "solapi": {"type": "solapi", "api_key": "env:NOPE_A", "api_secret": "env:NOPE_B"},
    "iwinv": {"type": "iwinv", "api_key": "env:NOPE_C"},
    "aligo": {"type": "aligo", "api_key": "env:NOPE_D", "user_id": "env:NOPE_E"},
}


@pytest.mark.parametrize("kind", ["mock", "iwinv", "aligo"])
def test_providers_without_our_id_on_the_wire_cannot_tell_what_they_received(kind, deps) -> None:
    """None, not {}: an empty dict would claim nothing arrived, and the rows would be resent."""
    configs = CONFIGS | {"mock": {"type": "mock"}}
    settings = config.validate({"providers": {kind: configs[kind]}}, "test")
    provider = registry.build(kind, settings.providers[kind], deps)
    message = Message("m1", MessageType.SMS, "01012345678", "0212345678", "hi")
    assert provider.received([message], 0) is None
