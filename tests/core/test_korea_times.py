"""Korean rules and user times, evaluated in Asia/Seoul whatever the host zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from kmsg_cli.core import korea
from kmsg_cli.core.times import KST, kst, parse_when
from kmsg_cli.errors import InputError, TemporaryError


def kst_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=KST).timestamp() * 1000)


@pytest.fixture(autouse=True, params=["UTC", "America/Los_Angeles"])
def foreign_tz(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [("2026-11-26 20:59", False), ("2026-11-26 21:00", True), ("2026-11-27 07:59", True),
     ("2026-11-27 08:00", False), ("2026-11-27 00:00", True), ("2026-11-27 12:00", False)],
)  # fmt: skip
def test_quiet_hours_boundaries(clock: str, quiet: bool) -> None:
    assert korea.in_quiet_hours(kst_ms(clock)) is quiet


@pytest.mark.parametrize(
    ("clock", "outside"),
    [("2026-11-26 20:49", False), ("2026-11-26 20:50", True), ("2026-11-26 20:59", True),
     ("2026-11-27 07:59", True), ("2026-11-27 08:00", False)],
)  # fmt: skip
def test_brand_message_window_is_0800_to_2050_kst(clock: str, outside: bool) -> None:
    assert korea.in_quiet_hours(kst_ms(clock), kakao=True) is outside
    with_defer = korea.ad_send_time(kst_ms(clock), None, defer=True, kakao=True)
    assert with_defer[1] is outside


def test_deferred_ad_goes_out_at_the_next_0800_kst() -> None:
    assert korea.quiet_hours_end(kst_ms("2026-11-26 22:00")) == kst_ms("2026-11-27 08:00")
    assert korea.quiet_hours_end(kst_ms("2026-11-27 03:00")) == kst_ms("2026-11-27 08:00")
    at, deferred = korea.ad_send_time(kst_ms("2026-11-26 22:00"), None, defer=True)
    assert (at, deferred) == (kst_ms("2026-11-27 08:00"), True)
    assert korea.ad_send_time(kst_ms("2026-11-26 12:00"), None, defer=False) == (None, False)
    with pytest.raises(TemporaryError, match="21:00 and 08:00 KST"):
        korea.ad_send_time(kst_ms("2026-11-26 22:00"), None, defer=False)


@pytest.mark.parametrize(
    "text",
    [
        "(광고) 겨울 세일\n무료거부 080-123-4567",
        "(광고)세일 무료수신거부 0801234567",
        "  (광고) a 무료거부 080-000-0000",
    ],
)
def test_accepted_ad_forms(text: str) -> None:
    korea.check_ad_text(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [("[광고] 세일 무료거부 080-123-4567", "(광고)"), ("(광 고) 세일 무료거부 080-123-4567", "(광고)"),
     ('("광고") 세일 무료거부 080-123-4567', "(광고)"), ("(광.고) 세일 무료거부 080-123-4567", "(광고)"),
     ("세일 (광고) 무료거부 080-123-4567", "(광고)"), ("(광고) 세일", "080"),
     ("(광고) 세일 무료거부 02-123-4567", "080"), ("(광고) 세일 수신거부 080-123-4567", "080")],
)  # fmt: skip
def test_refused_ad_forms(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why.replace("(", r"\(").replace(")", r"\)")):
        korea.check_ad_text(text)


def test_parse_when_reads_naive_times_as_seoul_and_refuses_the_past() -> None:
    now = kst_ms("2026-11-26 12:00")
    assert parse_when("2026-11-26 21:30", now) == kst_ms("2026-11-26 21:30")
    assert parse_when("2026-11-26T12:30:00Z", now) == kst_ms("2026-11-26 21:30")
    assert parse_when("2026-11-26T21:30+09:00", now) == kst_ms("2026-11-26 21:30")
    assert parse_when("+2h", now) == now + 2 * 3_600_000
    with pytest.raises(InputError, match="past"):
        parse_when("2026-11-26 11:59", now)
    with pytest.raises(InputError, match="invalid time"):
        parse_when("tomorrow", now)


def test_parse_when_refuses_more_than_180_days_ahead() -> None:
    now = kst_ms("2026-11-26 12:00")
    assert parse_when("+180d", now) == now + 180 * 86_400_000
    assert parse_when("2027-05-25 12:00", now) == kst_ms("2027-05-25 12:00")
    huge = "+" + "9" * 30 + "d"  # past what SQLite or datetime can hold
    for text in ("+181d", "2027-05-25 12:01", "9999-12-31", "9999-12-31T23:59-12:00", huge):
        with pytest.raises(InputError) as err:
            parse_when(text, now)
        assert "more than 180 days ahead (latest 2027-05-25 12:00:00 KST)" in err.value.message


def test_a_time_past_year_9999_is_shown_not_raised() -> None:
    # queue entries written before --at had a horizon must not break `kmsg queue list`
    assert kst(kst_ms("9999-12-31 00:00")) == "9999-12-31 00:00:00 KST"
    assert kst(8_641_796_176_897_449) == "out of range: 8641796176897449 ms since 1970"


def test_provider_schedule_windows() -> None:
    now = kst_ms("2026-11-26 12:00")
    solapi, aligo = (60, 180 * 86_400), (660, 180 * 86_400)
    assert korea.provider_can_schedule(solapi, now, now + 3_600_000)
    assert not korea.provider_can_schedule(aligo, now, now + 5 * 60_000)  # Aligo: >= 10 min
    assert not korea.provider_can_schedule(None, now, now + 3_600_000)
