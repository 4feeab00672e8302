"""The campaign row planner's short way builds exactly the Message a single send would (the long
way: bulk.draft + service.plan_one + campaign.prepare), row key included, so a rerun by either way
finds the rows the other sent; rows it cannot take go the long way with the same errors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest

from kmsg_cli.core.bulk import Spec
from kmsg_cli.core.row_planner import RowPlanner
from kmsg_cli.errors import KmsgError
from tests.conftest import FakeClock
from tests.trackkit import FakeProvider, make_env, open_db

HEADER = ["name", "phone", "order", "text"]
ROWS = [
    ["고객1", "01012345678", "A1", "ignored"],  # SMS
    ["김" * 40, "01012345679", "A2", ""],  # long: LMS by bytes
    ["고객3", "010-1234-5670", "A3", ""],  # written with dashes: the long way normalizes
    ["", "01012345671", "A4", ""],  # an empty cell in the text
    ["고객5", "0101234567", "A5", ""],  # not a mobile number
    ["고객😀", "01012345672", "A6", ""],  # EUC-KR cannot carry it: a warning
    ["똠이", "01012345675", "A9", ""],  # a CP949-only syllable: a warning too
    ["고객7", "01012345673"],  # too few fields
    ["고객8", "+82 10 1234 5674", "A8", ""],
]
SPECS = [
    Spec(text="{name}님, 주문 {order}"),
    Spec(text="{name}님, 주문 {order}", subject="{name} 주문", sender="02-123-4567"),
    Spec(text="{name}님 {order}", type="lms"),
    Spec(text="{name}님 {order}", type="SMS"),
    Spec(text="(광고) {name}님 {order} 무료거부 080-123-4567", ad=True),
    Spec(text="{name}님 {order}", ad=True),  # no (광고): every row invalid
    Spec(text="{name}님 {order}", provider_id="p1"),
    Spec(text="{name}님 {order}", provider_id="nope"),
]


def _plain(item):  # what must match: everything but the random message id
    row, to, plan = item
    if isinstance(plan, KmsgError):
        return row, to, type(plan), plan.message
    message = replace(plan.message, message_id="")
    # the draft is kept only for a row held in the queue (send-bulk --at), which the short way
    # never plans
    return row, to, asdict(replace(plan, message=message, draft=None))


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_short_way_plans_each_row_as_the_long_way(tmp_path: Path, spec: Spec) -> None:
    clock = FakeClock()
    env = make_env(clock, open_db(tmp_path / "k.db", clock), FakeProvider("p1"))
    short = RowPlanner(HEADER, spec, env, "job-1", "run-1", preview=False)
    if spec.provider_id != "nope":
        assert short.fast is not None  # these campaigns do take the short way
    long = RowPlanner(HEADER, spec, env, "job-1", "run-1", preview=False)
    long.fast = None
    for number, values in enumerate(ROWS, 1):
        assert _plain(short(number, values)) == _plain(long(number, values)), values


def test_campaigns_the_short_way_does_not_cover_go_the_long_way(tmp_path: Path) -> None:
    clock = FakeClock()
    env = make_env(clock, open_db(tmp_path / "k.db", clock), FakeProvider("p1"))
    for header, spec in [
        (["phone", "text"], Spec()),  # a text per row
        (["phone", "type", "name"], Spec(text="{name}")),
        (["phone", "name"], Spec(template_id="T1")),
    ]:
        assert RowPlanner(header, spec, env, "j", "r", preview=False).fast is None


def test_an_option_the_short_way_does_not_know_sends_the_campaign_the_long_way(
    tmp_path: Path,
) -> None:
    @dataclass(frozen=True)
    class Later(Spec):  # a Spec field added later (say, a send time) that the short way ignores
        at: str | None = None

    clock = FakeClock()
    env = make_env(clock, open_db(tmp_path / "k.db", clock), FakeProvider("p1"))
    text = "{name}님 {order}"
    assert RowPlanner(HEADER, Later(text=text), env, "j", "r", preview=False).fast is not None
    assert RowPlanner(HEADER, Later(text=text, at="x"), env, "j", "r", preview=False).fast is None


def test_row_keys_are_those_earlier_versions_wrote(tmp_path: Path) -> None:
    """A campaign started by an earlier kmsg and rerun by this one finds the rows it sent."""
    clock = FakeClock()
    env = make_env(clock, open_db(tmp_path / "k.db", clock), FakeProvider("p1"))
    spec = Spec(text="{name}님, 주문 {order}")
    _, _, plan = RowPlanner(HEADER, spec, env, "job-1", "run-1", preview=False)(1, ROWS[0])
    m = plan.message
    content = [
        m.to,
        m.type.value,
        m.sender,
        m.text,
        m.subject,
        m.template_id,
        sorted(m.variables.items()),
    ]
    digest = hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()
    assert m.idempotency_key == f"bulk:job-1:{digest[:32]}"
