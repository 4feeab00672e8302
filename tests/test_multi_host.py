"""Many hosts, one database: three OS processes, each with its own KMSG_HOME and the same KMSG_DB,
against one fake SOLAPI server on 127.0.0.1, at once:

- host a drains the local queue (`queue work`) of sends written beforehand with `send --at`;
- hosts b and c send the same idempotency keys, and run `track --once` on a clock moved a minute
  forward, so the AlimTalks to non-KakaoTalk users fail over to SMS;
- one host is killed with SIGKILL inside a provider call after SOLAPI stored its message: c in a
  keyed SMS ("sender") or a keyed AlimTalk to a non-KakaoTalk user ("alimtalk"), or b while its
  tracking pass sends the SMS fallbacks ("tracker").

Then every host's commands are rerun (healing), later by more than the in-flight grace, and the
last tracking passes run. The "alimtalk" case once sent that AlimTalk twice: settlement read the
3104 SOLAPI reported for it after accepting it as a rejection, so the rerun sent a second attempt
(tests/providers/test_solapi_found_after_acceptance.py). Afterwards the provider accepted every logical message exactly once, every
failover happened once, nothing is left pending, and every exit code told the truth: 0 only when
the command's messages are accepted (or queued).

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
VICTIM, VICTIM_ATA = "01050000001", "01050000002"  # host c's last SMS and AlimTalk (both keyed)
NOT_KAKAO = {*ALIMTALK[1::2], VICTIM_ATA}  # their AlimTalk fails with 3104: one SMS fallback each
LATER_MS = 60_000  # due: the queued sends (30 s ahead) and the AlimTalks' first check (30 s)
HEALING_MS = 12 * 60_000  # past the 10-minute in-flight grace; SOLAPI allows 15 minutes of skew
FINAL_MS = (HEALING_MS + 60_000, HEALING_MS + 120_000)  # what healing sent is checked, and then
# the fallbacks those checks sent
TIMEOUT = 60.0

BACKENDS = ["sqlite", "postgres"]  # postgres: the pg_url fixture (tests/conftest.py)


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


def alimtalk(to: str, *key: str) -> list[str]:
    return ["send", "--to", to, "--template-id", "TPL1", "--var", "name=고객", "--failover",
            "--fallback-text", "주문이 접수되었습니다 (문자)", *key]  # fmt: skip


def keyed_sends() -> list[list[str]]:
    return [send(to, f"k-{i}") for i, to in enumerate(KEYED)]


def check_truth(results: list[dict[str, Any]], fake: NotKakaoSolapi) -> None:
    """Exit 0 only when every message of the command is accepted, once. A send may also exit 75
    when another host still has its key in flight (not settled yet, never resent blind), and then
    it does not claim the message; queue and track passes exit 0."""
    received = fake.received_ids()
    for r in results:
        argv, code, doc = r["argv"], r["code"], r["doc"]
        assert code in ((0, 75) if argv[0] == "send" else (0,)), r
        for m in doc["messages"] if argv[0] == "send" else []:
            if code != 0:
                assert m["state"] == "unknown", r
            elif m["state"] != "queued":
                assert m["state"] in ("accepted", "duplicate"), r
                assert received[m["message_id"]] == 1, r


@pytest.mark.parametrize("victim", ["sender", "alimtalk", "tracker"])
def test_three_hosts_one_database_every_message_once(
    tmp_path: Path, db_url: str, fake: NotKakaoSolapi, victim: str
) -> None:
    hosts = {n: Host(n, tmp_path, db_url, fake.base_url) for n in ("ops", "a", "b", "c")}

    # beforehand, from an ops box: scheduled sends for the local queue, and AlimTalks
    at = datetime.fromtimestamp(time.time() + 30, UTC).isoformat()  # under SOLAPI's 60 s lead
    setup = [[*send(to, f"q-{i}"), "--at", at] for i, to in enumerate(QUEUED)]
    setup += [alimtalk(to) for to in ALIMTALK]
    assert finish(hosts["ops"].start(0, setup)) == 0
    assert [r["code"] for r in hosts["ops"].read()] == [0] * len(setup)

    # a minute later, three hosts at once; one dies inside a provider call SOLAPI has stored:
    # c in its keyed SMS ("sender") or AlimTalk ("alimtalk"), or b while its tracking pass sends
    # the SMS fallbacks ("tracker")
    track, drain = ["track", "--once", "--limit", "2"], ["queue", "run", "--once"]
    last = [send(VICTIM, "k-victim"), alimtalk(VICTIM_ATA, "--idempotency-key", "k-ata")]
    if victim == "tracker":
        fake.hold(ALIMTALK[1])  # only a fallback goes there after the setup
        dying, plans = "b", {"b": [*keyed_sends(), ["track", "--once"]]}  # all six at once
        plans["c"] = [*keyed_sends(), drain, *last]  # no track: b's pass must be the one
    else:
        fake.hold(VICTIM if victim == "sender" else VICTIM_ATA)
        dying, plans = "c", {"b": [drain, track, *keyed_sends(), track]}
        plans["c"] = [track, *keyed_sends(), *last]
    a = hosts["a"].start(LATER_MS, [["queue", "work", "--interval", "0.1"]])
    procs = {h: hosts[h].start(LATER_MS, commands) for h, commands in plans.items()}
    try:
        assert fake.held.wait(TIMEOUT), f"host {dying} never reached the held request"
        procs[dying].send_signal(signal.SIGKILL)
        assert finish(procs[dying]) == -signal.SIGKILL
    finally:
        fake.release()
    assert [finish(p) for h, p in procs.items() if h != dying] == [0]
    wait_for(lambda: set(QUEUED) <= set(fake.recipients()), "the queue to be drained")
    wait_for(hosts["a"].results.with_suffix(".slept").exists, "queue work to be looping")
    a.send_signal(signal.SIGTERM)  # queue work stops after the job in hand
    assert finish(a) == 0
    first = [r for h in ("a", "b", "c") for r in hosts[h].read()]
    died_in = plans[dying][len(hosts[dying].read())]  # all before it finished
    assert died_in == {"sender": last[0], "alimtalk": last[1], "tracker": plans["b"][-1]}[victim]
    check_truth(first, fake)

    # healing: every host's commands again, later than any in-flight grace, at once
    procs = {
        "a": hosts["a"].start(HEALING_MS, [drain, track]),
        "b": hosts["b"].start(HEALING_MS, [drain, track, *keyed_sends(), track]),
        "c": hosts["c"].start(HEALING_MS, [track, *keyed_sends(), *last]),
    }
    assert [finish(p) for p in procs.values()] == [0, 0, 0]
    healed = [r for h in ("a", "b", "c") for r in hosts[h].read()]
    assert [r["code"] for r in healed] == [0] * len(healed), [r for r in healed if r["code"]]
    check_truth(healed, fake)

    # then tracking passes find every message delivered or failed over, nothing left pending
    assert finish(hosts["ops"].start(FINAL_MS[0], [["track", "--once"]])) == 0
    passes = hosts["ops"].read()
    final = [["track", "--once"], ["status", "--limit", "100"]]
    assert finish(hosts["ops"].start(FINAL_MS[1], final)) == 0
    *more, status = hosts["ops"].read()
    passes += more
    assert [r["code"] for r in [*passes, status]] == [0, 0, 0]
    sms = len(QUEUED) + len(KEYED) + 1 + len(NOT_KAKAO)  # the last one: VICTIM
    delivered = sms + len(ALIMTALK) + 1 - len(NOT_KAKAO)  # the AlimTalks to non-users failed
    assert status["doc"]["counts"]["status"] == {"DELIVERED": delivered, "FAILED": len(NOT_KAKAO)}
    assert status["doc"]["counts"]["type"] == {"SMS": sms, "ALIMTALK": len(ALIMTALK) + 1}
    alimtalks = {m["message_id"]: m for m in status["doc"]["messages"] if m["type"] == "ALIMTALK"}
    assert {m["fallback_message_id"] for m in alimtalks.values()} == {None} | {
        f"{mid}:api-fallback" for mid, m in alimtalks.items() if m["status"] == "FAILED"
    }

    # the provider accepted each logical message exactly once, nothing else
    accepted = Counter((m["type"], m["to"]) for m in fake.stored() if m["dateReceived"])
    expected = Counter([("SMS", to) for to in [*QUEUED, *KEYED, VICTIM, *sorted(NOT_KAKAO)]])
    expected.update(("ATA", to) for to in [*ALIMTALK, VICTIM_ATA])
    assert accepted == expected
    assert set(fake.received_ids().values()) == {1}
    fallbacks = {k for k in fake.received_ids() if k.endswith(":api-fallback")}
    failed = {mid for mid, m in alimtalks.items() if m["status"] == "FAILED"}
    assert fallbacks == {f"{mid}:api-fallback" for mid in failed} and len(failed) == len(NOT_KAKAO)
    if victim != "tracker":  # every pass reported: each failover was made by one of them, once
        failed_over = sum(
            r["doc"]["summary"]["failed_over"] for r in first + healed + passes
            if r["argv"][0] == "track"
        )  # fmt: skip
        assert failed_over == len(NOT_KAKAO)
