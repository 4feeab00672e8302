"""Many hosts, one database: three OS processes, each with its own KMSG_HOME and the same KMSG_DB,
against one fake SOLAPI server on 127.0.0.1, at once:

- host a drains the local queue (`queue work`) of sends written beforehand with `send --at`;
- hosts b and c both run `track --once` on a clock moved a minute forward, so the AlimTalks to
  non-KakaoTalk users fail over to SMS, and both send the same idempotency keys;
- host c is killed with SIGKILL inside its last provider call, after SOLAPI stored the message.

Then every host's commands are rerun (healing), later by more than the in-flight grace. Afterwards
the provider accepted every logical message exactly once, every failover happened once, and every
exit code told the truth: 0 only when the command's messages are accepted (or queued).

Each host is ``python -m tests.multihost`` (tests/multihost.py) running its commands in-process on
a shifted clock. Nothing sleeps a fixed time: the test waits on process exits and the fake server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.multihost import NotKakaoSolapi

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "MULTIHOSTKEY01", "MULTIHOSTSECRET01"
QUEUED = [f"0102000{i:04d}" for i in range(8)]  # `send --at`, drained by the queue workers
KEYED = [f"0103000{i:04d}" for i in range(8)]  # `send --idempotency-key`, from hosts b and c
ALIMTALK = [f"0104000{i:04d}" for i in range(6)]
NOT_KAKAO = set(ALIMTALK[1::2])  # their AlimTalk fails with 3104: one SMS fallback each
VICTIM = "01050000001"  # host c dies inside this send; SOLAPI has stored it
LATER_MS = 60_000  # due: the queued sends (30 s ahead) and the AlimTalks' first check (30 s)
HEALING_MS = 12 * 60_000  # past the 10-minute in-flight grace; SOLAPI allows 15 minutes of skew
TIMEOUT = 60.0

BACKENDS = ["sqlite"]  # "postgres": the pg_url fixture (tests/conftest.py) gives the server's URL


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The one database every host shares: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        (tmp_path / "shared").mkdir()
        return str(tmp_path / "shared" / "kmsg.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def fake() -> Iterator[NotKakaoSolapi]:
    with NotKakaoSolapi(KEY, SECRET, not_kakao=NOT_KAKAO) as server:
        server.add_template("TPL1", "#{name}님, 주문이 접수되었습니다")
        yield server


class Host:
    """One machine: its own KMSG_HOME and config, the shared database, one process at a time."""

    def __init__(self, name: str, root: Path, db_url: str, base_url: str) -> None:
        self.name = name
        self.dir = root / name
        self.home = self.dir / "home"
        self.home.mkdir(parents=True)
        config = self.home / "config.toml"
        config.write_text(
            f'[providers.sol]\ntype = "solapi"\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n'
            f'kakao_pf_id = "KA01PF1"\ndefault_from = "0212345678"\nbase_url = "{base_url}"\n'
            "timeout_seconds = 5\n"
        )
        config.chmod(0o600)
        self.env = {**os.environ, "KMSG_HOME": str(self.home), "KMSG_DB": db_url}
        self.env["PYTHONPATH"] = str(ROOT)  # this worktree, not an installed copy
        for var in ("KMSG_CONFIG", "KMSG_DEBUG"):
            self.env.pop(var, None)
        self.runs = 0

    def start(self, offset_ms: int, commands: list[list[str]]) -> subprocess.Popen[bytes]:
        self.runs += 1
        script = self.dir / f"run{self.runs}.json"
        script.write_text(json.dumps({"offset_ms": offset_ms, "commands": commands}))
        self.results = self.dir / f"run{self.runs}.jsonl"
        cmd = [sys.executable, "-m", "tests.multihost", str(script), str(self.results)]
        return subprocess.Popen(cmd, env=self.env, stderr=subprocess.PIPE)

    def read(self) -> list[dict[str, Any]]:
        if not self.results.exists():
            return []
        lines = self.results.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]


def finish(proc: subprocess.Popen[bytes]) -> int:
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    return proc.returncode


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling the in-process fake server, not a fixed delay


def send(to: str, key: str) -> list[str]:
    return ["send", "--to", to, "--text", f"주문 {key} 접수", "--idempotency-key", key]


def keyed_sends() -> list[list[str]]:
    return [send(to, f"k-{i}") for i, to in enumerate(KEYED)]


def check_truth(results: list[dict[str, Any]], fake: NotKakaoSolapi) -> None:
    """Exit 0 only when every message of the command is accepted, once; anything else is 75
    (a message another host still has in flight: not settled yet, never resent blind)."""
    received = fake.received_ids()
    for r in results:
        argv, code, doc = r["argv"], r["code"], r["doc"]
        assert code in (0, 75), r
        if argv[0] != "send" or code != 0:
            continue
        for m in doc["messages"]:
            if m["state"] == "queued":
                continue
            assert m["state"] in ("accepted", "duplicate"), r
            assert received[m["message_id"]] == 1, r


def test_three_hosts_one_database_every_message_once(
    tmp_path: Path, db_url: str, fake: NotKakaoSolapi
) -> None:
    hosts = {n: Host(n, tmp_path, db_url, fake.base_url) for n in ("ops", "a", "b", "c")}

    # beforehand, from an ops box: scheduled sends for the local queue, and AlimTalks
    at = datetime.fromtimestamp(time.time() + 30, UTC).isoformat()  # under SOLAPI's 60 s lead
    setup = [[*send(to, f"q-{i}"), "--at", at] for i, to in enumerate(QUEUED)]
    setup += [
        ["send", "--to", to, "--template-id", "TPL1", "--var", "name=고객", "--failover",
         "--fallback-text", "주문이 접수되었습니다 (문자)"]
        for to in ALIMTALK
    ]  # fmt: skip
    assert finish(hosts["ops"].start(0, setup)) == 0
    assert [r["code"] for r in hosts["ops"].read()] == [0] * len(setup)
    alimtalk_ids = {r["doc"]["messages"][0]["message_id"]: r["argv"][2] for r in hosts["ops"].read()
                    if "--template-id" in r["argv"]}  # fmt: skip

    # a minute later, three hosts at once; c dies inside its provider call for VICTIM
    fake.hold(VICTIM)
    track, drain = ["track", "--once", "--limit", "2"], ["queue", "run", "--once"]
    a = hosts["a"].start(LATER_MS, [["queue", "work", "--interval", "0.1"]])
    b = hosts["b"].start(LATER_MS, [drain, track, *keyed_sends(), track])
    c = hosts["c"].start(LATER_MS, [track, *keyed_sends(), send(VICTIM, "k-victim")])
    try:
        assert fake.held.wait(TIMEOUT), "host c never reached its last send"
        c.send_signal(signal.SIGKILL)
        assert finish(c) == -signal.SIGKILL
    finally:
        fake.release()
    assert finish(b) == 0
    wait_for(lambda: set(QUEUED) <= set(fake.recipients()), "the queue to be drained")
    a.send_signal(signal.SIGTERM)  # queue work stops after the job in hand
    assert finish(a) == 0
    first = [r for h in ("a", "b", "c") for r in hosts[h].read()]
    assert len(hosts["c"].read()) == 1 + len(KEYED)  # everything but the send it died in
    check_truth(first, fake)

    # healing: every host's commands again, later than any in-flight grace, at once
    procs = [
        hosts["a"].start(HEALING_MS, [drain, track]),
        hosts["b"].start(HEALING_MS, [drain, track, *keyed_sends(), track]),
        hosts["c"].start(HEALING_MS, [track, *keyed_sends(), send(VICTIM, "k-victim")]),
    ]
    assert [finish(p) for p in procs] == [0, 0, 0]
    healed = [r for h in ("a", "b", "c") for r in hosts[h].read()]
    assert [r["code"] for r in healed] == [0] * len(healed), [r for r in healed if r["code"]]
    check_truth(healed, fake)

    # the provider accepted each logical message exactly once, nothing else
    accepted = Counter((m["type"], m["to"]) for m in fake.stored() if m["dateReceived"])
    expected = Counter([("SMS", to) for to in [*QUEUED, *KEYED, VICTIM, *sorted(NOT_KAKAO)]])
    expected.update(("ATA", to) for to in ALIMTALK)
    assert accepted == expected
    assert set(fake.received_ids().values()) == {1}
    fallbacks = {k for k in fake.received_ids() if k.endswith(":api-fallback")}
    assert fallbacks == {
        f"{mid}:api-fallback" for mid, to in alimtalk_ids.items() if to in NOT_KAKAO
    }
    failed_over = sum(
        r["doc"]["summary"]["failed_over"] for r in first + healed if r["argv"] == track
    )
    assert failed_over == len(NOT_KAKAO)  # each failover happened once, by one host
