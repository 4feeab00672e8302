"""The delivery ledger through the CLI, against the fake SOLAPI server on 127.0.0.1: each way the
promise used to break (a message lost behind exit 0, or sent twice) has its regression test here.

The fake server's clock is the test's clock, so settlement windows are exact; "61 s later" is the
settlement delay ([tracking] settle_after_seconds, 60 by default) passing.
"""

from __future__ import annotations

import socket
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fake_solapi import FakeSolapi
from tests.conftest import FakeClock, Kmsg

KEY, SECRET = "LEDGERKEY001", "LEDGERSECRET001"
A, B = "01011112222", "01033334444"


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeSolapi]:
    with FakeSolapi(KEY, SECRET, now_ms=clock.now_ms) as server:
        yield server


def configure(home: Path, base_url: str, *, max_batch: int | None = None) -> None:
    batch = f"max_batch = {max_batch}\n" if max_batch else ""
    (home / "config.toml").write_text(
        f'[providers.sol]\ntype = "solapi"\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n'
        f'default_from = "0212345678"\nbase_url = "{base_url}"\ntimeout_seconds = 2\n{batch}'
    )
    (home / "config.toml").chmod(0o600)


@pytest.fixture
def solapi(fake: FakeSolapi, kmsg_home: Path) -> FakeSolapi:
    configure(kmsg_home, fake.base_url)
    return fake


def attempts(home: Path) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute(
            'SELECT "to", "send_state", "attempt" FROM kmsg_delivery_tracking ORDER BY "to", "attempt"'
        ).fetchall()
    finally:
        conn.close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# ---- single sends with an idempotency key ------------------------------------------------------


@pytest.mark.parametrize("fault", ["429", "503", "rejected"])
def test_a_key_whose_send_was_refused_is_sent_by_the_rerun(
    kmsg: Kmsg, solapi: FakeSolapi, fault: str
) -> None:
    send = ("send", "--to", A, "--text", "deploy ok", "--idempotency-key", "deploy-7")
    if fault == "rejected":
        solapi.fail_suffix = "2222"  # the provider says no to this recipient
    else:
        solapi.fail_next(fault, fault, fault)  # every automatic retry is refused too
    code, doc = kmsg.json(*send)
    assert code != 0 and doc["ok"] is False
    assert solapi.recipients() == Counter()

    solapi.fail_suffix = "9999"
    code, doc = kmsg.json(*send)
    assert code == 0 and doc["messages"][0]["state"] == "accepted"
    assert solapi.recipients() == Counter({A: 1})
    assert kmsg.json(*send)[0] == 0  # and the next rerun sends nothing
    assert solapi.recipients() == Counter({A: 1})


def test_a_key_whose_provider_refused_the_connection_is_sent_by_the_rerun(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path
) -> None:
    send = ("send", "--to", A, "--text", "deploy ok", "--idempotency-key", "deploy-8")
    configure(kmsg_home, closed_port())
    code, _ = kmsg.json(*send)
    assert code == 69
    configure(kmsg_home, fake.base_url)
    assert kmsg.json(*send)[0] == 0
    assert fake.recipients() == Counter({A: 1})
    assert [a[1:] for a in attempts(kmsg_home)] == [("refused", 1), ("accepted", 2)]


@pytest.mark.parametrize("fault", ["500-after", "drop-after", "500-before", "drop-before"])
def test_an_unknown_outcome_is_settled_before_anything_is_sent_again(
    kmsg: Kmsg, solapi: FakeSolapi, clock: FakeClock, fault: str
) -> None:
    send = ("send", "--to", A, "--text", "deploy ok", "--idempotency-key", "deploy-9")
    solapi.fail_next(fault)
    assert kmsg.json(*send)[0] == 75
    code, doc = kmsg.json(*send)  # at once: the provider may still be working on it
    assert code == 75 and doc["error"]["code"] == "unsettled"
    clock.advance(61)
    code, doc = kmsg.json(*send)
    assert code == 0
    assert solapi.recipients() == Counter({A: 1})  # exactly once, whichever side the fault fell


def test_a_provider_that_cannot_tell_leaves_the_message_unknown_and_exits_75(
    kmsg: Kmsg, clock: FakeClock
) -> None:
    send = ("send", "--to", "01011115040", "--text", "hi", "--idempotency-key", "mock-1")
    assert kmsg.json(*send)[0] == 75  # the mock's read timeout after the request left
    clock.advance(61)
    code, doc = kmsg.json(*send)
    assert code == 75 and doc["error"]["code"] == "unsettled"
    assert "cannot tell" in doc["error"]["hint"]


def test_a_key_is_built_from_normalized_numbers(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    for to in ("010-1111-2222,010-3333-4444", f"{A},{B}", "+82 10 1111 2222,+82 10 3333 4444"):
        code, doc = kmsg.json("send", "--to", to, "--text", "hi", "--idempotency-key", "k")
        assert code == 0, doc
    assert solapi.recipients() == Counter({A: 1, B: 1})
    assert [m["state"] for m in doc["messages"]] == ["duplicate", "duplicate"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("--to", B, "--text", "hi"), "recipients"),
        (("--to", f"{A},{B}", "--text", "hi"), "recipients"),
        (("--to", A, "--text", "bye"), "text"),
        (("--to", A, "--text", "hi", "--at", "+3h"), "send time"),
    ],
)
def test_a_key_reused_for_other_content_is_refused_naming_what_differs(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path, change: tuple[str, ...], named: str
) -> None:
    assert kmsg.json("send", "--to", A, "--text", "hi", "--idempotency-key", "k2")[0] == 0
    code, doc = kmsg.json("send", *change, "--idempotency-key", "k2")
    assert code == 65 and doc["error"]["code"] == "idempotency_conflict"
    assert f"({named} differ)" in doc["error"]["message"]
    assert solapi.recipients() == Counter({A: 1})  # nothing went to B, nothing went twice
    assert len(attempts(kmsg_home)) == 1


def test_a_key_used_with_at_then_without_is_a_conflict_not_a_second_send(
    kmsg: Kmsg, solapi: FakeSolapi, clock: FakeClock
) -> None:
    later = ("send", "--to", A, "--text", "hi", "--at", "+2h", "--idempotency-key", "k3")
    assert kmsg.json(*later)[0] == 0  # SOLAPI holds the schedule
    code, doc = kmsg.json("send", "--to", A, "--text", "hi", "--idempotency-key", "k3")
    assert code == 65 and "send time" in doc["error"]["message"]
    code, doc = kmsg.json(*later)  # the same command again (the same instant: same time)
    assert code == 0 and doc["messages"][0]["state"] == "duplicate"
    assert solapi.recipients() == Counter({A: 1})


def test_a_held_message_is_reported_held_by_the_rerun_and_sent_once(
    kmsg: Kmsg, clock: FakeClock
) -> None:
    clock.now = 1_795_000_000_000 - (1_795_000_000_000 % 86_400_000) + 13 * 3_600_000  # 22:00 KST
    ad = "(광고) 세일\n무료거부 080-123-4567"
    held = ("send", "--to", A, "--text", ad, "--ad", "--defer", "--idempotency-key", "k4")
    code, doc = kmsg.json(*held)
    assert code == 0 and doc["messages"][0]["state"] == "queued"
    code, doc = kmsg.json(*held)
    assert code == 0 and "QUEUED already" in doc["messages"][0]["result"]
    assert kmsg.json("queue", "list")[1]["counts"] == {"pending": 1}


def test_queue_retry_of_a_rejected_job_sends_it(
    kmsg: Kmsg, solapi: FakeSolapi, clock: FakeClock
) -> None:
    clock.now = 1_795_000_000_000 - (1_795_000_000_000 % 86_400_000) + 13 * 3_600_000  # 22:00 KST
    ad = "(광고) 세일\n무료거부 080-123-4567"
    assert kmsg("send", "--to", A, "--text", ad, "--ad", "--defer").exit_code == 0
    clock.advance(10 * 3600)  # 08:00 KST
    solapi.fail_suffix = "2222"
    assert kmsg("queue", "run", "--once").exit_code == 1  # rejected: the job is dead
    assert kmsg.json("queue", "list", "--failed")[1]["jobs"]
    solapi.fail_suffix = "9999"
    assert kmsg("queue", "retry", "--failed").exit_code == 0
    result = kmsg("queue", "run", "--once")
    assert result.exit_code == 0, result.output
    assert solapi.recipients() == Counter({A: 1})


# ---- campaigns -------------------------------------------------------------------------------


def rows(path: Path, n: int) -> Path:
    lines = ["name,phone"] + [f"고객{i},010{40_000_000 + i:08d}" for i in range(1, n + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_campaign_after_500s_and_dropped_answers_is_finished_by_reruns(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, clock: FakeClock, tmp_path: Path
) -> None:
    configure(kmsg_home, fake.base_url, max_batch=10)
    data = rows(tmp_path / "c.csv", 40)
    command = ("send-bulk", str(data), "--text", "{name}님", "--yes", "--concurrency", "1")
    fake.fail_next("500-before", "drop-after", None, "500-after")
    code, doc = kmsg.json(*command)
    assert code == 75 and doc["counts"]["unknown"] == 30 and doc["counts"]["accepted"] == 10

    code, doc = kmsg.json(*command)  # at once: too early to ask; nothing sent, and it says so
    assert code == 75 and doc["unsettled"] == 30 and fake.stats()["unique"] == 30
    clock.advance(61)
    code, doc = kmsg.json(*command)
    assert code == 0, doc
    assert doc["counts"] == {**doc["counts"], "accepted": 10, "already_sent": 30}
    assert fake.recipients() == Counter({f"010{40_000_000 + i:08d}": 1 for i in range(1, 41)})
    code, doc = kmsg.json(*command)
    assert code == 0 and doc["sent_before"] == 40


def test_the_preview_and_max_cost_count_the_rows_settlement_frees(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, clock: FakeClock, tmp_path: Path
) -> None:
    configure(kmsg_home, fake.base_url, max_batch=10)
    with (kmsg_home / "config.toml").open("a") as f:
        f.write("[prices]\nSMS = 10\n")
    data = rows(tmp_path / "c.csv", 20)
    command = ("send-bulk", str(data), "--text", "{name}님", "--yes", "--concurrency", "1")
    fake.fail_next("500-before")
    assert kmsg.json(*command)[0] == 75
    clock.advance(61)
    code, doc = kmsg.json(*command, "--max-cost", "50")  # 10 freed rows cost 100
    assert code == 65 and "100 KRW" in doc["error"]["message"]
    assert fake.stats()["unique"] == 10


def test_two_piped_campaigns_with_the_same_options_are_two_jobs(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    first = "name,phone\n" + "".join(f"a{i},010{50_000_000 + i:08d}\n" for i in range(5))
    second = "name,phone\n" + "".join(f"b{i},010{60_000_000 + i:08d}\n" for i in range(7))
    command = ("send-bulk", "-", "--text", "{name}님", "--yes")
    code_a, doc_a = kmsg.json(*command, input=first)
    code_b, doc_b = kmsg.json(*command, input=second)
    assert (code_a, code_b) == (0, 0) and doc_a["job"] != doc_b["job"]
    assert doc_a["counts"]["accepted"] == 5 and doc_b["counts"]["accepted"] == 7
    assert sum(solapi.recipients().values()) == 12
    assert not list((kmsg_home / "bulk").glob("*.csv"))  # kept copies go when the job is done
    code, doc = kmsg.json(*command, input=first)  # the same pipe again: the same job, nothing new
    assert code == 0 and doc["job"] == doc_a["job"] and doc["sent_before"] == 5


def test_each_attempt_keeps_the_providers_clock_offset(
    kmsg: Kmsg, clock: FakeClock, kmsg_home: Path
) -> None:
    with FakeSolapi(KEY, SECRET, now_ms=clock.now_ms, clock_offset_ms=-300_000) as skewed:
        configure(kmsg_home, skewed.base_url)
        code, doc = kmsg.json("send", "--to", A, "--text", "hi")
        assert code == 0
        _, shown = kmsg.json("status", doc["messages"][0]["message_id"])
    # the Date header has whole seconds: five minutes behind, give or take one
    assert -301_000 <= shown["message"]["provider_clock_offset_ms"] <= -299_000


def test_one_recipient_twice_in_a_campaign_with_two_texts_gets_both(
    kmsg: Kmsg, solapi: FakeSolapi, tmp_path: Path
) -> None:
    """Issue 13: two rows to one number with different texts are two messages, sent in one
    SOLAPI call that allows the duplicate recipient (the fake refuses it otherwise)."""
    data = tmp_path / "dup.csv"
    data.write_text(f"name,phone\n첫째,{A}\n둘째,{A}\n셋째,{B}\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", str(data), "--text", "{name} 안내", "--yes")
    assert code == 0, doc
    assert doc["counts"]["accepted"] == 3
    assert solapi.recipients() == Counter({A: 2, B: 1})
