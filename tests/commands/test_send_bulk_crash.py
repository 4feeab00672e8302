"""kill -9 in the middle of a campaign, then the same command again: the fake SOLAPI server (a real
127.0.0.1 socket) has every valid row exactly once, whether the request in flight when the process
died reached the provider or not. The CLI runs as a real child process so the kill is real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.fake_solapi import FakeSolapi

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "CRASHKEY0001", "CRASHSECRET0001"
ROWS, INVALID_EVERY = 4_000, 100


def setup(home: Path, base_url: str) -> tuple[list[str], dict[str, str], set[str]]:
    (home / "config.toml").write_text(
        '[providers.sol]\ntype = "solapi"\napi_key = "env:T_SOLAPI_KEY"\n'
        f'api_secret = "env:T_SOLAPI_SECRET"\ndefault_from = "0212345678"\nbase_url = "{base_url}"\n'
    )
    valid: set[str] = set()
    lines = ["name,phone"]
    for i in range(1, ROWS + 1):
        number = "0101234" if i % INVALID_EVERY == 0 else f"010{30_000_000 + i * 10 + 1:08d}"
        if i % INVALID_EVERY:
            valid.add(number)
        lines.append(f"고객{i},{number}")
    data = home / "rows.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # this worktree, not an installed copy
        "KMSG_HOME": str(home),
        "T_SOLAPI_KEY": KEY,
        "T_SOLAPI_SECRET": SECRET,
    }
    args = [
        sys.executable,
        "-m",
        "kmsg_cli",
        "send-bulk",
        str(data),
        "--text",
        "{name}님 안녕하세요",
    ]
    return [*args, "--yes", "--concurrency", "1"], env, valid


@pytest.mark.parametrize("reached", [True, False], ids=["request-reached", "request-lost"])
def test_kill_9_halfway_then_rerun_sends_every_valid_row_once(
    kmsg_home: Path, reached: bool
) -> None:
    with FakeSolapi(KEY, SECRET) as fake:
        command, env, valid = setup(kmsg_home, fake.base_url)
        fake.pause_after(ROWS // 2, record=reached)
        first = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert fake.paused.wait(timeout=120), "the first run never reached the gate"
        finally:
            first.kill()
            first.wait()
        fake.release()
        assert first.returncode == -9
        partial = fake.recipients()
        assert 0 < len(partial) < len(valid)

        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 1, rerun.stderr  # the invalid rows; everything else accepted
        assert fake.recipients() == Counter(dict.fromkeys(valid, 1))
        in_flight = 1000  # the chunk the first run died in
        found, lost = (in_flight, 0) if reached else (0, in_flight)
        assert f"{found:,} reached the provider, {lost:,} did not" in rerun.stderr


def test_ctrl_c_finishes_the_chunk_in_hand_exits_130_and_the_rerun_completes(
    kmsg_home: Path,
) -> None:
    with FakeSolapi(KEY, SECRET) as fake:
        command, env, valid = setup(kmsg_home, fake.base_url)
        fake.pause_after(ROWS // 2, record=True)
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert fake.paused.wait(timeout=120)
            first.send_signal(signal.SIGINT)
            fake.release()  # the chunk in hand ends (without an answer: an unknown outcome)
            _, err = first.communicate(timeout=120)
        finally:
            first.kill()
        assert first.returncode == 130, err
        assert b"state saved" in err
        sent = fake.recipients()
        assert len(sent) == ROWS // 2 + 1000 and set(sent.values()) == {1}  # nothing after Ctrl-C

        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 1, rerun.stderr
        assert fake.recipients() == Counter(dict.fromkeys(valid, 1))
