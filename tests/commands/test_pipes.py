"""kmsg in a pipeline, as a real child process with real pipes: a reader that stops early
(`kmsg status | head -1`) ends the output quietly and the exit code still tells the truth, and
with --json stderr stays silent unless something is fatal."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MOCK = '[providers.mock]\ntype = "mock"\n'


def kmsg(
    *args: str, lines: int | None = None, size: int | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    """Run kmsg with its stdout read by a reader that stops after ``lines`` lines (`head -1`) or
    ``size`` bytes (`head -c`) and closes the pipe; else it reads everything. Returns the exit
    code, what was read, and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, not the venv's copy
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmsg_cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    if size is not None:
        read = proc.stdout.read(size)
    elif lines is not None:
        read = b"".join(proc.stdout.readline() for _ in range(lines))
    else:
        read = proc.stdout.read()
    proc.stdout.close()  # the reader goes away; kmsg may still have output to write
    err = proc.stderr.read()
    return proc.wait(timeout=120), read.decode(), err.decode()


def accepted(home: Path) -> int:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        sql = "SELECT count(*) FROM kmsg_delivery_tracking WHERE send_state = 'accepted'"
        count: int = conn.execute(sql).fetchone()[0]
        return count
    finally:
        conn.close()


@pytest.fixture
def configured(kmsg_home: Path) -> Path:
    """A config file, so stderr has no first-run notice and must be empty."""
    (kmsg_home / "config.toml").write_text(MOCK, encoding="utf-8")
    return kmsg_home


def campaign(path: Path, rows: int) -> str:
    numbers = "".join(f"010{20_000_000 + i * 10 + 1:08d}\n" for i in range(1, rows + 1))
    path.write_text("to\n" + numbers, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "lines"),
    [(["status"], 1), (["status"], 0), (["status", "--json"], 0)],
    ids=["head-1", "closed", "json-closed"],
)
def test_a_reader_that_stops_early_ends_a_query_quietly_with_0(
    configured: Path, args: list[str], lines: int
) -> None:
    assert kmsg("send", "--to", "01012345671,01012345681", "--text", "hi", "-q")[0] == 0
    code, read, err = kmsg(*args, lines=lines)
    assert (code, err) == (0, "")
    assert read.count("\n") == lines


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_a_dry_run_read_by_head_ends_quietly(
    configured: Path, tmp_path: Path, json_mode: bool
) -> None:
    # far more than a pipe holds, so kmsg is still writing when the reader goes away
    data = campaign(tmp_path / "big.csv", 5_000)
    args = ["send-bulk", data, "--text", "hi", "--dry-run", *(["--json"] if json_mode else [])]
    # the JSON document is one line: `head -c 100` for it, `head -1` for the text
    code, read, err = kmsg(*args, size=100) if json_mode else kmsg(*args, lines=1)
    assert (code, err) == (0, "")
    assert read.startswith('{"schema_version": 1' if json_mode else "      1  010-****-0011")


@pytest.mark.parametrize(
    ("to", "code"), [("01012345671", 0), ("01012349999", 1)], ids=["accepted", "rejected"]
)
def test_a_send_whose_reader_left_still_exits_with_its_result(
    configured: Path, to: str, code: int
) -> None:
    result, read, err = kmsg("send", "--to", to, "--text", "hi", lines=0)
    assert result == code and read == ""
    assert accepted(configured) == (code == 0)
    assert "Traceback" not in err and "BrokenPipe" not in err and "internal error" not in err


def test_a_campaign_whose_reader_left_still_sends_every_row(
    configured: Path, tmp_path: Path
) -> None:
    data = campaign(tmp_path / "c.csv", 30)
    code, _, err = kmsg("send-bulk", data, "--text", "hi", "--yes", lines=0)
    assert (code, accepted(configured)) == (0, 30)
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("flag", ["--json", "-q"])
def test_json_and_quiet_keep_stderr_silent_on_the_first_run(kmsg_home: Path, flag: str) -> None:
    # no config file: the built-in mock, whose notice is for people, not for scripts
    code, read, err = kmsg("send", "--to", "01012345671", "--text", "hi", flag)
    assert (code, err) == (0, "")
    if flag == "--json":
        assert json.loads(read)["ok"] is True


def test_json_puts_warnings_in_the_document_not_on_stderr(kmsg_home: Path) -> None:
    code, read, err = kmsg("send", "--to", "01012345671", "--text", "-", "--json", stdin="가" * 46)
    doc = json.loads(read)
    assert (code, err) == (0, "")
    assert doc["warnings"] == ["text is 92 bytes, over the 90-byte SMS limit: it goes as LMS"]


def test_a_fatal_error_in_json_mode_is_the_document(kmsg_home: Path) -> None:
    code, read, err = kmsg("send", "--to", "123", "--text", "hi", "--json")
    assert (code, err) == (65, "")
    assert json.loads(read)["exit_code"] == 65
