"""Three hosts, one PostgreSQL database: a sender (with idempotency keys), a queue worker and a
tracker (its clock ten minutes ahead) run at once, each a real process with its own KMSG_HOME; the
sender is killed with SIGKILL while a request is in flight at a fake SOLAPI on 127.0.0.1, then
started again with the same commands. Afterwards the provider accepted every message exactly
once, and every undelivered AlimTalk fell back to exactly one SMS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.fake_solapi import DUPLICATE_CODE, FAIL_CODE, FakeSolapi
from tests.store.hostsim import kmsg

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "HOSTSKEY0001", "HOSTSSECRET0001"
NOT_KAKAO = "0404"  # an AlimTalk to a number ending so is accepted, then fails: not a Kakao user


HELD = (
    f"0103024{NOT_KAKAO}"  # the sender's request for this AlimTalk is the one in flight at the kill
)


class KakaoFake(FakeSolapi):
    """The fake SOLAPI, with AlimTalks to *0404 failing delivery (3104) after acceptance, and a
    gate: the request carrying ``hold_to`` is stored, then held until ``release()`` and dropped
    with no answer (the provider has it; its sender never learns so)."""

    hold_to: str | None = None

    def _send(self, raw: bytes) -> Any:
        try:
            doc = json.loads(raw)
            held = self.hold_to in {str(m.get("to")) for m in doc["messages"]}
        except (ValueError, KeyError, TypeError):
            held = False
        if not held:
            return super()._send(raw)
        with self._lock:
            self.hold_to = None
            self._store(doc["messages"], doc.get("allowDuplicates") is True)
        self.paused.set()
        self._released.wait()
        return None

    def _store(self, messages: list[dict[str, Any]], allow_duplicates: bool = False) -> Any:
        answer = super()._store(messages, allow_duplicates)
        for item in answer["messageList"]:
            row = self._stored[item["messageId"]]
            if row["type"] == "ATA" and row["to"].endswith(NOT_KAKAO):
                row.update(statusCode="3104", statusMessage="카카오톡 미사용자", dateReceived=None)
        return answer


def host(base: Path, name: str, base_url: str, pg_url: str) -> dict[str, str]:
    home = base / name
    home.mkdir()
    (home / "config.toml").write_text(
        '[providers.sol]\ntype = "solapi"\napi_key = "env:T_KEY"\napi_secret = "env:T_SECRET"\n'
        f'kakao_pf_id = "KA01PF1"\ndefault_from = "0212345678"\nbase_url = "{base_url}"\n'
        "timeout_seconds = 5\n[tracking]\nsettle_after_seconds = 0\n"
    )
    env = {**os.environ, "KMSG_HOME": str(home), "KMSG_DB": pg_url, "PYTHONPATH": str(ROOT)}
    return env | {"T_KEY": KEY, "T_SECRET": SECRET}


def plan() -> tuple[list[list[str]], Counter[tuple[str, str]]]:
    """The sender's commands, and what the provider must end up with: (type, to) -> 1."""
    at = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()  # too soon for SOLAPI: queued
    commands, expected = [], Counter[tuple[str, str]]()
    for i in range(60):
        to = f"0102000{i:04d}"
        key = ["--idempotency-key", f"order-{i}"]
        if i % 6 == 0:  # an AlimTalk that is never delivered: its SMS fallback must go once
            to = f"0103{i:03d}{NOT_KAKAO}"
            commands.append(["send", "--to", to, "--template-id", "TPL1", "--var", "name=김",
                             "--failover", "--fallback-text", "김님, 주문 접수", *key])  # fmt: skip
            expected[("ATA", to)] = expected[("SMS", to)] = 1
        elif i % 6 == 1:  # queued: the queue worker sends it
            commands.append(["send", "--to", to, "--text", f"later {i}", "--at", at, *key])
            expected[("SMS", to)] = 1
        else:
            commands.append(["send", "--to", to, "--text", f"now {i}", *key])
            expected[("SMS", to)] = 1
    return commands, expected


def test_three_hosts_one_database_a_sender_killed_mid_request(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands, expected = plan()
    (tmp_path / "plan.json").write_text(json.dumps(commands))
    stop = tmp_path / "stop"
    sim = [sys.executable, "-m", "tests.store.hostsim"]
    with KakaoFake(KEY, SECRET) as fake:
        fake.add_template("TPL1", "#{name}님, 주문이 접수되었습니다")
        senders = host(tmp_path, "app1", fake.base_url, pg_url)
        kmsg_env = [host(tmp_path, n, fake.base_url, pg_url) for n in ("worker", "cron")]
        fake.hold_to = HELD
        loops = [
            subprocess.Popen([*sim, "loop", str(stop), "120", "queue", "run", "--once"],
                             env=kmsg_env[0], cwd=ROOT),
            subprocess.Popen([*sim, "loop", str(stop), "600", "track", "--once", "--now"],
                             env=kmsg_env[1], cwd=ROOT),
        ]  # fmt: skip
        sender = subprocess.Popen(
            [*sim, "send", str(tmp_path / "plan.json")], env=senders, cwd=ROOT
        )
        try:
            assert fake.paused.wait(timeout=120), "no request reached the gate"
            sender.send_signal(signal.SIGKILL)  # mid-request: the provider has it, kmsg never hears
            sender.wait()
            fake.release()
            assert sender.returncode == -signal.SIGKILL
            again = subprocess.run([*sim, "send", str(tmp_path / "plan.json")], env=senders,
                                   cwd=ROOT, timeout=300, check=False)  # fmt: skip
            assert again.returncode == 0
        finally:
            stop.touch()
            for p in loops:
                p.wait(timeout=300)
        assert [p.returncode for p in loops] == [0, 0]
        # whatever is left (a job or a failover not yet due in the loops' last pass) finishes now
        finish(kmsg_env[1], monkeypatch)
        refused = (FAIL_CODE, DUPLICATE_CODE)
        got = Counter((m["type"], m["to"]) for m in fake.stored() if m["statusCode"] not in refused)
        received = fake.received_ids()
    assert got == expected  # every message once: none lost, none twice, one fallback per AlimTalk
    assert set(received.values()) == {1}
    with psycopg.connect(pg_url) as conn:
        intents = conn.execute("SELECT state, count(*) FROM kmsg_failover_intents GROUP BY 1")
        jobs = conn.execute("SELECT status, count(*) FROM kmsg_jobs GROUP BY 1")
        assert intents.fetchall() == [("sent", 10)] and jobs.fetchall() == [("completed", 10)]


def finish(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The drain a cron host would do: queue and track passes until nothing is left to do."""
    for name in ("KMSG_HOME", "KMSG_DB", "T_KEY", "T_SECRET"):
        monkeypatch.setenv(name, env[name])
    for _ in range(5):
        kmsg(["queue", "run", "--once"], 120_000)
        kmsg(["track", "--once", "--now"], 600_000)
