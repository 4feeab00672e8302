"""send-bulk at a terminal: the prompt, and Ctrl-C at the prompt and during a campaign (a real
pseudo-terminal, a real child process, keys typed as a person types them)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.fake_solapi import FakeSolapi

ROOT = Path(__file__).resolve().parents[2]
CTRL_C, CTRL_D = b"\x03", b"\x04"
KEY, SECRET = "TTYKEY000001", "TTYSECRET000001"


class Terminal:
    """kmsg with a pseudo-terminal as its terminal: read what it shows, type keys."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: kmsg with the pty as its terminal
            # a shell that starts a job in the background (cron, `... &`) leaves SIGINT ignored,
            # and an ignored signal survives exec: a person's terminal delivers it
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}  # this checkout
            os.execve(sys.executable, [sys.executable, "-m", "kmsg_cli", *args], child_env)
        self.pid, self.fd, self.screen = pid, fd, b""

    def expect(self, text: str) -> None:
        """Read until ``text`` is on the screen."""
        self.read_until(lambda: text.encode() in self.screen, text)

    def read_until(self, done: Callable[[], bool], what: str) -> None:
        """Keep reading (a child writing to a full terminal would block) until ``done()``,
        60 s at most."""
        deadline = time.monotonic() + 60
        while not done():
            assert time.monotonic() < deadline, f"never saw {what}:\n{self.text}"
            if not self._read(timeout=0.1):
                raise AssertionError(f"kmsg ended before {what}:\n{self.text}")

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self) -> int:
        deadline = time.monotonic() + 60
        while self._read(timeout=1):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise AssertionError(f"kmsg still running after 60 s:\n{self.text}")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)

    @property
    def raw(self) -> str:
        return self.screen.decode(errors="replace")

    @property
    def text(self) -> str:
        """What a person reads: the screen without its colour escapes."""
        return re.sub(r"\x1b\[[0-9;]*m", "", self.raw)

    def _read(self, timeout: float) -> bool:
        """False once the child has closed the terminal."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # the child closed the terminal
            return False
        self.screen += data
        return bool(data)


def tracked(home: Path) -> Counter[str]:
    if not (home / "kmsg.db").exists():
        return Counter()
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        rows = conn.execute('SELECT "send_state" FROM kmsg_delivery_tracking').fetchall()
    finally:
        conn.close()
    return Counter(r[0] for r in rows)


def one_row(tmp_path: Path) -> str:
    data = tmp_path / "one.csv"
    data.write_text("to\n01055556661\n", encoding="utf-8")
    return str(data)


@pytest.mark.parametrize(
    ("keys", "code"),
    [(b"y\n", 0), (b"yes\n", 0), (b"n\n", 130), (b"\n", 130), (b"sure\n", 130)],
    ids=["y", "yes", "n", "enter", "other"],
)
def test_only_yes_sends(kmsg_home: Path, tmp_path: Path, keys: bytes, code: int) -> None:
    term = Terminal(["send-bulk", one_row(tmp_path), "--text", "hi"])
    term.expect("Send 1 message (cost unknown: no [prices] for SMS)? [y/N]")
    term.type(keys)
    assert term.wait() == code, term.text
    sent = code == 0
    assert ("1 accepted" in term.text) is sent
    assert ("error: cancelled; nothing sent" in term.text) is not sent
    assert ("\x1b[31merror:\x1b[0m cancelled" in term.raw) is not sent  # red on a terminal
    assert tracked(kmsg_home) == ({"accepted": 1} if sent else {})


def test_no_color_leaves_the_terminal_free_of_escapes(kmsg_home: Path, tmp_path: Path) -> None:
    term = Terminal(["send-bulk", one_row(tmp_path), "--text", "hi"], {"NO_COLOR": "1"})
    term.expect("[y/N]")
    term.type(b"n\n")
    assert term.wait() == 130, term.text
    assert "error: cancelled; nothing sent" in term.raw and "\x1b" not in term.raw


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_ctrl_d_at_the_prompt_cancels(
    kmsg_home: Path, tmp_path: Path, key: bytes
) -> None:
    term = Terminal(["send-bulk", one_row(tmp_path), "--text", "hi"])
    term.expect("[y/N]")
    term.type(key)
    assert term.wait() == 130, term.text
    assert "error: cancelled; nothing sent" in term.text
    assert "Abort" not in term.text and "internal error" not in term.text
    assert not tracked(kmsg_home)


def test_the_json_document_says_the_prompt_was_declined(kmsg_home: Path, tmp_path: Path) -> None:
    term = Terminal(["send-bulk", one_row(tmp_path), "--text", "hi", "--json"])
    term.expect("[y/N]")  # --json is no yes: on a terminal kmsg still asks
    term.type(b"n\n")
    assert term.wait() == 130, term.text
    assert '"ok": false' in term.text and '"code": "cancelled"' in term.text


def solapi_campaign(home: Path, base_url: str, rows: int) -> tuple[list[str], dict[str, str]]:
    (home / "config.toml").write_text(
        '[providers.sol]\ntype = "solapi"\napi_key = "env:T_SOLAPI_KEY"\n'
        'api_secret = "env:T_SOLAPI_SECRET"\ndefault_from = "0212345678"\n'
        f'base_url = "{base_url}"\nmax_batch = 2\n'
    )
    data = home / "rows.csv"
    data.write_text(
        "to\n" + "".join(f"0105555{n:04d}\n" for n in range(1, rows + 1)), encoding="utf-8"
    )
    args = ["send-bulk", str(data), "--text", "hi", "--yes", "--concurrency", "1"]
    return args, {"T_SOLAPI_KEY": KEY, "T_SOLAPI_SECRET": SECRET}


def test_first_ctrl_c_finishes_the_batch_in_flight_then_stops(kmsg_home: Path) -> None:
    with FakeSolapi(KEY, SECRET) as fake:
        args, env = solapi_campaign(kmsg_home, fake.base_url, rows=6)
        fake.pause_after(0)  # the first batch (2 rows) waits at the provider
        term = Terminal(args, env)
        term.read_until(fake.paused.is_set, "the first batch at the provider")
        term.type(CTRL_C)
        term.expect("stopping after the batches in flight (Ctrl-C again to stop now)")
        fake.release()
        assert term.wait() == 130, term.text
        assert "stopped; state saved" in term.text
        assert sum(fake.recipients().values()) == 2  # no batch started after Ctrl-C


def test_second_ctrl_c_stops_now(kmsg_home: Path) -> None:
    with FakeSolapi(KEY, SECRET) as fake:
        args, env = solapi_campaign(kmsg_home, fake.base_url, rows=6)
        fake.pause_after(0)
        term = Terminal(args, env)
        term.read_until(fake.paused.is_set, "the first batch at the provider")
        term.type(CTRL_C)
        term.expect("Ctrl-C again to stop now")
        term.type(CTRL_C)
        fake.release()  # the call in hand still ends (its answer is recorded) before kmsg exits
        assert term.wait() == 130, term.text
        assert "interrupted; state saved" in term.text
        assert sum(fake.recipients().values()) == 2
        assert sum(tracked(kmsg_home).values()) == 2  # in the ledger: settled by a rerun
