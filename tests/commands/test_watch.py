"""`kmsg send --wait` and `kmsg status ID --watch`: follow messages to a final state on the injected
clock (the mock's scenarios: DELIVERED at the first check, 0000 AlimTalk FAILED and failed over,
8888 SENT forever), with exit 0 delivered, 1 not delivered, 75 timed out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import Kmsg

ALIMTALK = ("send", "--type", "ALIMTALK", "--template-id", "MOCK_TPL_SEED", "--var", "name=Kim")


def test_send_wait_follows_to_delivered_without_waiting_when_it_already_is(kmsg: Kmsg) -> None:
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "hi", "--wait")
    assert code == 0
    row = doc["messages"][0]
    assert row["final"] == "DELIVERED" and row["final_message_id"] == row["message_id"]
    assert kmsg.clock.slept == []


def test_send_wait_follows_a_failed_over_alimtalk_to_its_fallback(kmsg: Kmsg) -> None:
    code, doc = kmsg.json(
        *ALIMTALK, "--to", "01011110000", "--failover", "--fallback-text", "Kim님 주문", "--wait"
    )
    assert code == 0
    row = doc["messages"][0]
    assert row["final"] == "DELIVERED"
    assert row["final_message_id"] == row["message_id"] + ":api-fallback"


def test_send_wait_exits_1_when_the_message_fails(kmsg: Kmsg) -> None:
    result = kmsg(*ALIMTALK, "--to", "01011110000", "--wait")
    assert result.exit_code == 1
    assert "FAILED MOCK_3104" in result.stderr
    code, doc = kmsg.json(*ALIMTALK, "--to", "01022220000", "--wait")
    assert code == 1 and doc["error"]["code"] == "not_delivered"
    assert doc["messages"][0]["final"] == "FAILED"


def test_status_watch_times_out_with_75_after_checking_every_interval(kmsg: Kmsg) -> None:
    mid = kmsg("send", "--to", "01012348888", "--text", "hi", "-q").stdout.strip()
    code, doc = kmsg.json("status", mid[:10], "--watch", "--interval", "5", "--timeout", "1m")
    assert code == 75 and doc["error"]["code"] == "watch_timeout"
    assert doc["message"]["status"] == "SENT"
    assert sum(kmsg.clock.slept) == 60 and set(kmsg.clock.slept) == {5}
    checks = [h for h in doc["history"] if h["source"] == "check"]
    assert len(checks) == 13  # at 0, 5, ..., 60 s


def test_status_watch_shows_the_final_message(kmsg: Kmsg) -> None:
    mid = kmsg("send", "--to", "01012345678", "--text", "hi", "-q").stdout.strip()
    result = kmsg("status", mid, "--watch")
    assert result.exit_code == 0
    assert f"{mid}: DELIVERED" in result.stderr
    assert "DELIVERED" in result.stdout


def test_watch_delivers_the_hook_events_of_what_it_finds(kmsg: Kmsg, kmsg_home: Path) -> None:
    out = kmsg_home / "events.jsonl"
    script = f"import sys; open({str(out)!r}, 'ab').write(sys.stdin.buffer.read() + b'\\n')"
    (kmsg_home / "config.toml").write_text(
        '[providers.mock]\ntype = "mock"\n[hooks]\n'
        f"on_final = {json.dumps(f'{sys.executable} -c {json.dumps(script)}')}\n"
    )
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "hi", "--wait")
    assert code == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event_id"] for e in events] == [f"final:{doc['messages'][0]['message_id']}"]


def test_wait_and_watch_refuse_what_cannot_be_followed(kmsg: Kmsg) -> None:
    at = kmsg("send", "--to", "01012345678", "--text", "hi", "--at", "+2h", "--wait")
    assert at.exit_code == 2 and "--wait cannot be combined with --at" in at.stderr
    assert kmsg("status", "--watch").exit_code == 2
