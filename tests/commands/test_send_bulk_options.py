"""send-bulk --at, --defer, --failover/--fallback-text and --var, through the CLI against the fake
SOLAPI server: scheduled rows wait in the queue and go out once, a rerun neither sends nor holds
a row twice, --resume keeps the options, and exit codes say what happened."""

from __future__ import annotations

import csv
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fake_solapi import FakeSolapi
from kmsg_cli.core import bulk
from kmsg_cli.core.compose import compose
from kmsg_cli.core.times import kst
from tests.conftest import FakeClock, Kmsg, solapi_server

KEY, SECRET = "BULKOPTKEY01", "BULKOPTSECRET01"
NUMBERS = ("01020000011", "01020000021", "01020000031")
HOUR = 3600


@pytest.fixture
def fake(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET) as server:
        yield server


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "c.csv"
    lines = ["name,phone", *(f"고객{i},{n}" for i, n in enumerate(NUMBERS, 1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def states(home: Path) -> Counter[str]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        found = conn.execute('SELECT "send_state" FROM kmsg_delivery_tracking').fetchall()
    finally:
        conn.close()
    return Counter(r[0] for r in found)


def jobs(home: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute('SELECT "status", "process_at" FROM kmsg_jobs').fetchall()
    finally:
        conn.close()


def test_at_holds_every_row_then_the_queue_sends_each_once(
    kmsg: Kmsg, fake: FakeSolapi, rows: Path, kmsg_home: Path, clock: FakeClock, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    args = ("send-bulk", str(rows), "--text", "{name}님 {shop}", "--var", "shop=가게", "--yes")
    code, doc = kmsg.json(*args, "--at", "+2h", "--report", str(report))
    assert code == 0, doc
    assert doc["counts"]["queued"] == 3 and fake.requests == 0  # nothing sent yet
    assert doc["scheduled_at"] == clock.now + 2 * HOUR * 1000
    assert doc["scheduled_at_iso"].endswith("+09:00")
    assert states(kmsg_home) == {"planned": 3}
    assert {at for _, at in jobs(kmsg_home)} == {clock.now + 2 * HOUR * 1000}
    with report.open(encoding="utf-8") as f:
        assert Counter(r["status"] for r in csv.DictReader(f)) == {"queued": 3}

    # the same command again, even with another --at: held already, nothing held twice
    code, doc = kmsg.json(*args, "--at", "+3h")
    assert code == 0 and doc["queued_before"] == 3
    assert len(jobs(kmsg_home)) == 3 and fake.requests == 0

    clock.advance(2 * HOUR + 1)
    assert kmsg("queue", "run").exit_code == 0
    assert sorted(fake.recipients()) == sorted(NUMBERS)
    assert {s["text"] for s in fake.stored()} == {f"고객{i}님 가게" for i in (1, 2, 3)}
    assert states(kmsg_home) == {"accepted": 3}

    # a plain rerun after the queue sent them: every row was sent before
    code, doc = kmsg.json(*args)
    assert code == 0 and doc["sent_before"] == 3
    assert kmsg("queue", "run").exit_code == 0
    assert fake.recipients() == Counter(NUMBERS)  # each exactly once


def test_resume_keeps_the_scheduled_time_and_the_variables(
    kmsg: Kmsg, fake: FakeSolapi, rows: Path, kmsg_home: Path, clock: FakeClock
) -> None:
    args = ("send-bulk", str(rows), "--text", "{name} {shop}", "--var", "shop=가게")
    code, doc = kmsg.json(*args, "--at", "+2h", "--job", "later", "--yes", "--max-cost", "0")
    assert code != 0  # refused before anything was held (no [prices]): the job is saved
    assert not (kmsg_home / "kmsg.db").exists() or not jobs(kmsg_home)
    code, doc = kmsg.json("send-bulk", "--resume", "later", "--yes")
    assert code == 0, doc
    assert doc["counts"]["queued"] == 3
    assert {at for _, at in jobs(kmsg_home)} == {clock.now + 2 * HOUR * 1000}


def test_defer_holds_advertising_rows_for_eight_and_refuses_without_it(
    kmsg: Kmsg, fake: FakeSolapi, rows: Path, kmsg_home: Path, clock: FakeClock
) -> None:
    clock.advance(2 * HOUR)  # 22:06 KST: inside the night ban
    ad = "(광고){name}님 세일 무료수신거부 080-123-4567"
    code, doc = kmsg.json("send-bulk", str(rows), "--text", ad, "--ad", "--yes")
    assert code == 75 and "--defer" in doc["error"]["hint"]
    assert fake.requests == 0

    code, doc = kmsg.json("send-bulk", str(rows), "--text", ad, "--ad", "--defer", "--yes")
    assert code == 0, doc
    assert doc["counts"]["queued"] == 3 and fake.requests == 0
    (at,) = {at for _, at in jobs(kmsg_home)}
    assert kst(at) == "2026-11-19 08:00:00 KST"  # the next morning

    clock.advance(10 * HOUR)
    assert kmsg("queue", "run").exit_code == 0
    assert fake.recipients() == Counter(NUMBERS)


def test_defer_sends_by_day_and_only_holds_the_advertising_rows(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, clock: FakeClock, tmp_path: Path
) -> None:
    data = tmp_path / "mixed.csv"
    data.write_text(
        "phone,ad,text\n"
        "01020000011,yes,(광고)세일 무료수신거부 080-123-4567\n"
        "01020000021,no,배송 안내\n",
        encoding="utf-8",
    )
    clock.advance(2 * HOUR)
    code, doc = kmsg.json("send-bulk", str(data), "--defer", "--yes")
    assert code == 0, doc
    assert (doc["counts"]["accepted"], doc["counts"]["queued"]) == (1, 1)
    assert fake.recipients() == Counter({"01020000021": 1})


def test_failover_with_column_placeholders_in_the_fallback_text(
    kmsg: Kmsg, fake: FakeSolapi, rows: Path, kmsg_home: Path
) -> None:
    fake.add_template("TPL1", "#{name}님, 주문이 접수되었습니다")
    code, doc = kmsg.json(
        "send-bulk", str(rows), "--template-id", "TPL1", "--failover", "--yes",
        "--fallback-text", "#{name}님, 주문이 접수되었습니다 ({shop})", "--var", "shop=가게",
    )  # fmt: skip
    assert code == 0, doc
    stored = fake.stored()
    assert len(stored) == 3 and {s["type"] for s in stored} == {"ATA"}
    # SOLAPI's own resend would carry the AlimTalk's text: kmsg sends the fallback itself
    assert all(s["kakaoOptions"]["disableSms"] for s in stored)
    conn = sqlite3.connect(kmsg_home / "kmsg.db")
    try:
        found = conn.execute(
            'SELECT "failover_mode", "metadata" FROM kmsg_delivery_tracking'
        ).fetchall()
    finally:
        conn.close()
    assert {mode for mode, _ in found} == {"api"}
    assert any("고객1님, 주문이 접수되었습니다 (가게)" in text for _, text in found)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--text", "{name}", "--var", "nme=x"], "--var nme is not used by the text; did you mean name?"),
        (["--text", "{name}", "--var", "name=x"], "--var name is also a column"),
        (["--text", "{nmae}"], "{nmae}, which is not a column (columns: name, phone); did you mean {name}?"),
        (["--text", "hi", "--failover", "--fallback-text", "x"], "--failover applies to AlimTalk"),
        (["--template-id", "T", "--failover", "--fallback-text", "{nope}"], "--fallback-text uses {nope}"),
        (["--text", "hi", "--subject", "{nope}"], "--subject uses {nope}"),
        (["--text", "hi", "--at", "+0m"], "is in the past"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_and_exit_65(
    kmsg: Kmsg, rows: Path, kmsg_home: Path, args: list[str], says: str
) -> None:
    result = kmsg("send-bulk", str(rows), "--yes", *args)
    assert result.exit_code == 65, result.output
    assert says in result.stderr
    assert not (kmsg_home / "kmsg.db").exists() or not states(kmsg_home)


def test_subject_and_fallback_text_take_column_and_var_placeholders() -> None:
    spec = bulk.Spec(text="본문 {name}", subject="{name} 안내 {shop}", variables={"shop": "가게"})
    cols = bulk.columns(["name", "phone"], spec)
    to, draft = bulk.draft(["고객1", "01020000011"], cols, spec)
    m = compose(draft, to, "id1").message
    assert (m.text, m.subject) == ("본문 고객1", "고객1 안내 가게")
    spec = bulk.Spec(
        template_id="T", failover=True, fallback_text="#{name}님 {shop}", variables={"shop": "가게"}
    )
    to, draft = bulk.draft(["고객1", "01020000011"], bulk.columns(["name", "phone"], spec), spec)
    fallback = compose(draft, to, "id2").message.failover
    assert fallback is not None and fallback.text == "고객1님 가게"


def test_a_job_id_does_not_change_with_the_new_options_left_out() -> None:
    """Jobs started before --var/--at/--failover existed keep their id, so a rerun after an
    upgrade resumes them instead of sending every row again."""
    spec = bulk.Spec(text="{name}님")
    # the digest of the spec as it was: its ten original fields
    assert bulk.job_id("/data/c.csv", spec) == "c-32bfb052"
    assert bulk.job_id("/data/c.csv", bulk.Spec(text="{name}님", at=1)) == "c-32bfb052"
    assert bulk.job_id("/data/c.csv", bulk.Spec(text="{name}님", variables={"a": "b"})) != (
        "c-32bfb052"
    )


def test_resume_keeps_failover(kmsg: Kmsg, fake: FakeSolapi, rows: Path, kmsg_home: Path) -> None:
    fake.add_template("TPL1", "#{name}님, 주문이 접수되었습니다")
    code, _ = kmsg.json(
        "send-bulk", str(rows), "--template-id", "TPL1", "--failover",
        "--fallback-text", "{name}님 주문 접수", "--job", "fo", "--yes", "--max-cost", "0",
    )  # fmt: skip
    assert code == 78 and fake.stored() == []  # no [prices]: refused before sending, job saved
    code, doc = kmsg.json("send-bulk", "--resume", "fo", "--yes")
    assert code == 0, doc
    assert all(s["kakaoOptions"]["disableSms"] for s in fake.stored())
    conn = sqlite3.connect(kmsg_home / "kmsg.db")
    try:
        modes = {r[0] for r in conn.execute('SELECT "failover_mode" FROM kmsg_delivery_tracking')}
    finally:
        conn.close()
    assert modes == {"api"}


def test_a_row_listed_twice_is_held_once(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "twice.csv"
    data.write_text("phone,name\n01020000011,a\n01020000011,a\n01020000021,b\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", str(data), "--text", "{name}", "--at", "+1h", "--yes")
    assert code == 0, doc
    assert (doc["counts"]["queued"], doc["counts"]["duplicate"]) == (2, 1)
    assert len(jobs(kmsg_home)) == 2 and states(kmsg_home) == {"planned": 2}


def test_the_preview_of_a_scheduled_campaign_says_when_the_rows_are_held(
    kmsg: Kmsg, fake: FakeSolapi, rows: Path
) -> None:
    result = kmsg("send-bulk", str(rows), "--text", "{name}님 안녕", "--at", "+2h", "--yes")
    assert result.exit_code == 0, result.output
    assert "to hold in the queue until 2026-" in result.stderr
    assert fake.stored() == []
    again = kmsg("send-bulk", str(rows), "--text", "{name}님 안녕", "--at", "+2h", "--yes")
    assert again.exit_code == 0 and "nothing left to send" in again.stderr, again.output
