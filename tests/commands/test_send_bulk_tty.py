"""On a terminal, send-bulk asks before sending (a real pseudo-terminal, a real child process)."""

from __future__ import annotations

import os
import pty
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_on_a_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: kmsg with the pty as its terminal
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, not the venv's copy
        os.execve(sys.executable, [sys.executable, "-m", "kmsg_cli", *args], env)
    out, answered = b"", False
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out += data
        if b"[y/N]" in out and not answered:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize(("answer", "code", "sent"), [(b"n\n", 1, False), (b"y\n", 0, True)])
def test_asks_before_sending(
    kmsg_home: Path, tmp_path: Path, answer: bytes, code: int, sent: bool
) -> None:
    data = tmp_path / "one.csv"
    data.write_text("to\n01055556661\n", encoding="utf-8")
    exit_code, screen = run_on_a_terminal(["send-bulk", str(data), "--text", "hi"], answer)
    assert "Send 1 messages? [y/N]" in screen
    assert exit_code == code, screen
    assert ("1 accepted" in screen) is sent
    assert ("cancelled; nothing sent" in screen) is not sent
