"""Every adapter builds through the registry and matches the Provider protocol exactly."""

from __future__ import annotations

import inspect

import pytest

from kmsg_cli import config
from kmsg_cli.core.models import Message, MessageType
from kmsg_cli.core.ports import Provider
from kmsg_cli.providers import registry

CONFIGS = {
    "solapi": {"type": "solapi", "api_key": "env:NOPE_A", "api_secret": "env:NOPE_B"},
    "iwinv": {"type": "iwinv", "api_key": "env:NOPE_C"},
    "aligo": {"type": "aligo", "api_key": "env:NOPE_D", "user_id": "env:NOPE_E"},
}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_builds_without_resolving_secrets_and_matches_protocol(kind, deps) -> None:
    settings = config.validate({"providers": {kind: CONFIGS[kind]}}, "test")
    provider = registry.build(kind, settings.providers[kind], deps)
    assert provider.kind == kind and provider.id == kind
    assert MessageType.ALIMTALK in registry.capabilities(kind) == provider.types
    assert provider.max_batch >= 1
    assert provider.native_failover is True and provider.native_schedule is True
    for name, member in inspect.getmembers(Provider, inspect.isfunction):
        if not name.startswith("_"):
            ours = getattr(provider, name)
            assert (
                list(inspect.signature(ours).parameters)
                == list(inspect.signature(member).parameters)[1:]
            )


def test_max_batch_defaults_and_override(deps) -> None:
    solapi = {"type": "solapi", "api_key": "k", "api_secret": "s"}
    settings = config.validate(
        {"providers": {"a": solapi, "b": solapi | {"max_batch": 50}}}, "test"
    )
    assert registry.build("a", settings.providers["a"], deps).max_batch == 10_000
    assert registry.build("b", settings.providers["b"], deps).max_batch == 50


@pytest.mark.parametrize("kind", ["mock", "iwinv", "aligo"])
def test_providers_without_our_id_on_the_wire_cannot_tell_what_they_received(kind, deps) -> None:
    """None, not {}: an empty dict would claim nothing arrived, and the rows would be resent."""
    configs = CONFIGS | {"mock": {"type": "mock"}}
    settings = config.validate({"providers": {kind: configs[kind]}}, "test")
    provider = registry.build(kind, settings.providers[kind], deps)
    message = Message("m1", MessageType.SMS, "01012345678", "0212345678", "hi")
    assert provider.received([message], 0) is None
