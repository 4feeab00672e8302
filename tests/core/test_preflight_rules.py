"""The AlimTalk preflight's rules on a provider that can tell nothing but its balance (a plugin
without template or sender lists): what cannot be checked passes and says so
(docs/providers.md#the-alimtalk-preflight)."""

from __future__ import annotations

from kmsg_cli.core.models import Balance
from kmsg_cli.core.preflight import Preflight, preflight
from kmsg_cli.core.templates import Lookup


class Bare:
    kind = "bare"

    def __init__(self, amount: float) -> None:
        self.amount = amount

    def balance(self) -> Balance:
        return Balance(self.amount, "KRW")


def run(amount: float, *, count: int = 10, price: float | None = 8.0) -> dict[str, tuple]:  # type: ignore[type-arg]
    provider = Bare(amount)
    p = Preflight("b1", provider, "T1", None, False, "01055556666", None, count, price)
    checks = preflight(p, Lookup(lambda: None, lambda _pid: provider))
    return {c.name: (c.ok, c.detail, c.exit_code) for c in checks}


def test_what_a_provider_cannot_tell_passes_and_says_it_was_not_checked() -> None:
    found = run(1000)
    assert found == {
        "channel": (True, "b1 (bare) needs no Kakao channel key", 0),
        "template": (True, "b1 cannot list templates: 'T1' is not checked", 0),
        "variables": (True, "not checked: b1 cannot list templates", 0),
        "sender": (True, "01055556666, not checked: b1 publishes no sender list", 0),
        "balance": (True, "1,000 KRW covers the estimated 10 × 8 = 80 KRW", 0),
    }


def test_the_balance_must_cover_the_estimate_and_be_above_zero() -> None:
    assert run(79)["balance"] == (
        False,
        "the balance is 79 KRW, less than the estimated 10 × 8 = 80 KRW",
        69,
    )
    assert run(0, price=None)["balance"] == (False, "the balance is 0 KRW", 69)
    assert run(5, price=None)["balance"][:2] == (
        True,
        "5 KRW; no [prices] ALIMTALK, so the cost of 10 is not estimated",
    )
