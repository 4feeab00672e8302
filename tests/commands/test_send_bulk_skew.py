"""SOLAPI's clock 10 minutes behind (or ahead of) kmsg's, and a campaign killed while SOLAPI holds
its accepted request unanswered: the rerun settles the rows by SOLAPI's own creation time and sends
nothing twice. A window cut by kmsg's clock alone (60 s, as before) missed them when SOLAPI is
behind, declared them never received and sent every row again. Real child processes, as in
test_send_bulk_crash.py: only a killed run leaves rows for ``Provider.received`` to settle."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.fake_solapi import FakeSolapi

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "SKEWKEY0001", "SKEWSECRET0001"
ROWS, CHUNK = 1_010, 1_000  # the first chunk dies in flight; the rerun has rows left to send


@pytest.mark.parametrize("offset_min", [-10, 10], ids=["solapi-behind", "solapi-ahead"])
def test_killed_run_is_settled_whatever_the_clock_difference(
    kmsg_home: Path, offset_min: int
) -> None:
    numbers = [f"010{40_000_000 + i * 10 + 1:08d}" for i in range(1, ROWS + 1)]
    data = kmsg_home / "rows.csv"
    data.write_text("name,phone\n" + "".join(f"고객{i},{n}\n" for i, n in enumerate(numbers)))
    # PYTHONPATH: this worktree's kmsg_cli, not the copy installed in the virtualenv
    env = {**os.environ, "KMSG_HOME": str(kmsg_home), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "kmsg_cli", "send-bulk", str(data), "--text", "{name}님"]
    command += ["--yes", "--concurrency", "1"]
    with FakeSolapi(KEY, SECRET, clock_offset_ms=offset_min * 60_000) as fake:
        (kmsg_home / "config.toml").write_text(
            f'[providers.sol]\ntype = "solapi"\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n'
            f'default_from = "0212345678"\nbase_url = "{fake.base_url}"\n'
            # the fake answers at once: the rerun may settle at once (kmsg waits a minute by default)
            "[tracking]\nsettle_after_seconds = 0\n"
        )
        (kmsg_home / "config.toml").chmod(0o600)
        fake.pause_after(0, record=True)  # the first request is stored, then held unanswered
        first = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert fake.paused.wait(timeout=60), "the first run never reached the gate"
        finally:
            first.kill()
            first.wait()
        fake.release()
        assert fake.recipients() == Counter(dict.fromkeys(numbers[:CHUNK], 1))

        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert fake.recipients() == Counter(dict.fromkeys(numbers, 1))  # nothing sent twice
        assert f"{CHUNK:,} reached the provider, 0 did not" in rerun.stderr
