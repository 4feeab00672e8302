"""The AlimTalk preflight of ``kmsg providers doctor --alimtalk``: the Kakao channel, the template,
its variables, the sender and the balance checked on one provider before a send, each failure
with its reason and the next step (docs/providers.md#the-alimtalk-preflight).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kmsg_cli.core import phone
from kmsg_cli.core.templates import (
    APPROVED,
    ChannelCheck,
    Lookup,
    SenderCatalog,
    Template,
    check_sender,
    unknown_variables,
)
from kmsg_cli.errors import ConfigError, InputError, InsufficientBalance, KmsgError


@dataclass(frozen=True)
class Check:
    """One line of `kmsg providers doctor --alimtalk`: passed with a detail, or failed with the
    reason, the next step and the exit code the failure maps to."""

    name: str
    ok: bool
    detail: str = ""
    next: str = ""
    code: str = ""
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        if self.ok:
            return {"check": self.name, "ok": True, "detail": self.detail}
        return {
            "check": self.name,
            "ok": False,
            "reason": self.detail,
            "next": self.next,
            "code": self.code,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True)
class Preflight:
    """What the preflight of one AlimTalk template on one provider is given."""

    provider_id: str
    provider: Any  # the built provider (core/ports.py Provider, maybe ChannelCheck, ...)
    code: str
    channel_key: str | None  # the config key naming the Kakao channel; None: the type has none
    channel_set: bool  # that key has a value
    sender: str | None  # --from, else the provider's default sender
    variables: Mapping[str, str] | None  # --var given; None: list what the template needs
    count: int  # recipients, for the cost
    price: float | None  # KRW per AlimTalk ([prices] ALIMTALK)


def preflight(p: Preflight, lookup: Lookup) -> list[Check]:
    """Channel, template, variables, sender, balance: every check runs, each failure says why
    and what to do (docs/providers.md#the-alimtalk-preflight)."""
    template: list[Template | None] = []
    steps: list[tuple[str, Callable[[], str]]] = [
        ("channel", lambda: _channel(p)),
        ("template", lambda: _template(p, lookup, template)),
        ("variables", lambda: _variables(p, template)),
        ("sender", lambda: _sender(p, lookup)),
        ("balance", lambda: _balance(p)),
    ]
    checks = []
    for name, step in steps:
        try:
            checks.append(Check(name, True, step()))
        except KmsgError as exc:
            hint = exc.hint or NEXT_STEP.get(exc.code, "see `kmsg providers doctor`")
            checks.append(Check(name, False, exc.message, hint, exc.code, exc.exit_code))
    return checks


# the sender number of the config templates (`kmsg config init`), never a real registration
PLACEHOLDER_SENDER = "0212345678"

NEXT_STEP = {
    "auth": "check the provider's keys in the config (and, for IWINV/Aligo, that this machine's "
    "IP is registered)",
    "unavailable": "the provider could not be reached: check base_url and the network, then retry",
    "rate_limited": "the provider is rate limiting: wait and retry",
    "insufficient_balance": "top up the account",
    "config": "fix the config file, then `kmsg config validate`",
}


def _channel(p: Preflight) -> str:
    if p.channel_key is None:
        return f"{p.provider_id} ({p.provider.kind}) needs no Kakao channel key"
    where = f"providers.{p.provider_id}.{p.channel_key}"
    if not p.channel_set:
        raise ConfigError(
            f"{where} is not set: no Kakao channel, AlimTalk cannot be sent",
            hint=f"add {p.channel_key} under [providers.{p.provider_id}]",
        )
    if isinstance(p.provider, ChannelCheck):
        state = p.provider.channel()
        if not state.registered:
            raise ConfigError(
                f"{where}: {state.detail}",
                hint="register the Kakao channel with the provider, or fix the key",
            )
        return state.detail
    return f"{p.channel_key} is set ({p.provider_id} cannot be asked whether it is registered)"


def _template(p: Preflight, lookup: Lookup, found: list[Template | None]) -> str:
    template = lookup.template(p.provider_id, p.code)  # not registered: InputError (65)
    found.append(template)
    if template is None:
        return f"{p.provider_id} cannot list templates: {p.code!r} is not checked"
    if template.status != APPROVED:
        raise InputError(
            f"template {p.code!r} is {template.status} ({template.raw_status or '-'}), "
            "not approved",
            hint=f"`kmsg templates request {p.code}` if it was never submitted; once approved, "
            "`kmsg templates sync`",
        )
    return f"{p.code!r} is approved"


def _variables(p: Preflight, found: list[Template | None]) -> str:
    if not found:
        raise InputError(
            "the template is unknown, so are its variables", hint="fix the template check first"
        )
    template = found[0]
    if template is None:
        return f"not checked: {p.provider_id} cannot list templates"
    names = template.variables
    needs = ", ".join(f"#{{{n}}}" for n in names) or "no variables"
    if p.variables is None:
        return f"needs {needs}"
    given = {k.strip() for k in p.variables}
    missing = [n for n in names if n not in given]
    if missing:
        raise InputError(
            f"no value for {', '.join(f'#{{{n}}}' for n in missing)} (it needs {needs})",
            hint="pass --var NAME=VALUE for each",
        )
    unknown_variables(p.variables, template)
    return f"every one given: {needs}"


def _sender(p: Preflight, lookup: Lookup) -> str:
    if not p.sender:
        raise ConfigError(
            f"no sender number: provider {p.provider_id!r} has no default_from",
            hint=f"pass --from NUMBER or set default_from under [providers.{p.provider_id}]",
        )
    number = phone.sender(p.sender)
    if number == PLACEHOLDER_SENDER and p.provider.kind != "mock":
        raise ConfigError(
            f"sender {number} is the example number of the config template",
            hint=f"set default_from under [providers.{p.provider_id}] to the number registered "
            "with the provider",
        )
    live = isinstance(p.provider, SenderCatalog)
    registered = p.provider.senders() if live else lookup.senders(p.provider_id)
    if registered is None:
        return f"{number}, not checked: {p.provider_id} publishes no sender list"
    check_sender(number, registered, p.provider_id)
    return f"{number} is registered and active" + ("" if live else " (as of the last sync)")


def _balance(p: Preflight) -> str:
    b = p.provider.balance()
    have = f"{b.amount:,.0f} {b.unit}"
    if b.amount <= 0:
        raise InsufficientBalance(f"the balance is {have}", provider_id=p.provider_id)
    if b.unit != "KRW":
        return f"{have} left (not in KRW: the cost is not compared)"
    if p.price is None:
        return f"{have}; no [prices] ALIMTALK, so the cost of {p.count} is not estimated"
    cost = p.count * p.price
    estimate = f"{p.count} × {p.price:g} = {cost:,.0f} KRW"
    if b.amount < cost:
        raise InsufficientBalance(
            f"the balance is {have}, less than the estimated {estimate}",
            provider_id=p.provider_id,
        )
    return f"{have} covers the estimated {estimate}"
