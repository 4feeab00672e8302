"""Faults of kmsg's own database through the CLI: one line naming the file and what to do, and a
documented exit code (74 disk full / I/O error / read-only, 78 a newer kmsg's database, 66 a
named database that is not there), never a traceback or "internal error".

How each fault is made real (the tests run as root, which ignores file modes):
- disk full: every connection kmsg opens gets ``PRAGMA max_page_count`` = its current size, so
  SQLite itself refuses to grow the file with SQLITE_FULL "database or disk is full", the very
  code and message its VFS returns when write() fails with ENOSPC. (A small tmpfs needs mount
  rights, and SQLite refuses a -wal symlinked to /dev/full.)
- disk I/O error: a child kmsg under RLIMIT_FSIZE (SIGXFSZ ignored): the kernel refuses the
  write with EFBIG, SQLite reports SQLITE_IOERR "disk I/O error".
- read-only: ``chattr +i`` on the file as root (chmod 0400 otherwise); root may open it, writes
  fail with SQLITE_READONLY. Where chattr is not allowed, the URI ``mode=ro`` test still runs.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsg_cli.store.migrations import MIGRATIONS, schema_version
from tests.conftest import Kmsg

ROOT = Path(__file__).resolve().parents[2]
MANY = ",".join(f"010{20_000_000 + i:08d}" for i in range(60))


def errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def count(db: Path, table: str = "kmsg_delivery_tracking") -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])
    finally:
        conn.close()


def first_send(kmsg: Kmsg, db: Path) -> None:
    result = kmsg("send", "--to", "01012345678", "--text", "hi", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert count(db) == 1


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "kmsg.db"


def patch_connect(monkeypatch: pytest.MonkeyPatch, db: Path, *, full: bool = False) -> None:
    """Connections kmsg opens to ``db`` from now on: full (no page more) or read-only (mode=ro)."""
    real = sqlite3.connect

    def connect(target: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if Path(target) != db:
            return real(target, *args, **kwargs)
        if not full:
            return real(f"file:{db}?mode=ro", *args, uri=True, **kwargs)
        conn = real(target, *args, **kwargs)
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


# -- disk full, I/O error: 74 ----------------------------------------------------------------


def test_send_on_a_full_disk_exits_74_naming_the_database_and_sends_nothing(
    kmsg: Kmsg, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.parent.mkdir()
    first_send(kmsg, db)
    patch_connect(monkeypatch, db, full=True)
    result = kmsg("send", "--to", MANY, "--text", "hi", "--db", str(db))
    assert result.exit_code == 74, result.output
    assert errors(result) == [
        f"error: cannot write the database {db}: the disk is full; free some space, then rerun"
    ]
    assert "Traceback" not in result.output and "internal error" not in result.output
    monkeypatch.undo()
    assert count(db) == 1  # the journal failed before any provider call


def test_track_on_a_full_disk_exits_74(
    kmsg: Kmsg, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.parent.mkdir()
    assert kmsg("send", "--to", MANY, "--text", "hi", "--db", str(db)).exit_code == 0
    patch_connect(monkeypatch, db, full=True)
    result = kmsg("track", "--once", "--now", "--limit", "500", "--db", str(db))
    assert result.exit_code == 74, result.output
    assert errors(result) == [
        f"error: cannot write the database {db}: the disk is full; free some space, then rerun"
    ]


def test_a_full_disk_in_json_mode_is_the_error_document(
    kmsg: Kmsg, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.parent.mkdir()
    first_send(kmsg, db)
    patch_connect(monkeypatch, db, full=True)
    code, doc = kmsg.json("send", "--to", MANY, "--text", "hi", "--db", str(db))
    assert code == 74 and doc["ok"] is False and doc["exit_code"] == 74
    assert doc["error"]["code"] == "storage" and str(db) in doc["error"]["message"]


@pytest.mark.parametrize(
    "args", [["send", "--to", "01012345678", "--text", "hi"], ["track", "--once", "--now"]]
)
def test_a_disk_io_error_exits_74(kmsg: Kmsg, db: Path, args: list[str]) -> None:
    db.parent.mkdir()
    first_send(kmsg, db)
    # set in the child itself, after start-up: no preexec_fn, and the limit is the child's only
    run = (
        "import resource, runpy, signal, sys; "
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY)); "
        "sys.argv = ['kmsg', *sys.argv[1:]]; runpy.run_module('kmsg_cli', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.run(
        [sys.executable, "-c", run, *args, "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 74, child.stderr
    assert errors(child) == [
        f"error: cannot use the database {db}: disk I/O error; check the disk, then rerun"
    ]
    assert count(db) == 1


# -- read-only: 74, reading still works --------------------------------------------------------


@pytest.fixture
def immutable(db: Path) -> Iterator[Path]:
    """``db`` made read-only for real: chattr +i as root (root ignores modes), chmod otherwise."""
    db.parent.mkdir()
    yield db
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)
    elif db.exists():
        db.chmod(0o600)


def make_read_only(db: Path) -> None:
    if os.geteuid() != 0:
        db.chmod(0o400)
        return
    if shutil.which("chattr") is None:
        pytest.skip("no chattr: the mode=ro test covers read-only here")
    done = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not allowed here ({done.stderr.strip()})")


READ_ONLY = (
    "error: cannot write the database {}: it is read-only; "
    "make the file and its folder writable, then rerun"
)


def test_a_read_only_database_refuses_to_send_with_74_but_status_reads_it(
    kmsg: Kmsg, immutable: Path
) -> None:
    first_send(kmsg, immutable)
    make_read_only(immutable)
    result = kmsg("send", "--to", "01012345678", "--text", "again", "--db", str(immutable))
    assert result.exit_code == 74, result.output
    assert errors(result) == [READ_ONLY.format(immutable)]
    status = kmsg("status", "--db", str(immutable))
    assert status.exit_code == 0, status.output
    assert count(immutable) == 1


def test_a_database_sqlite_opens_read_only_exits_74(
    kmsg: Kmsg, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.parent.mkdir()
    first_send(kmsg, db)
    patch_connect(monkeypatch, db)
    for args in (["send", "--to", "01012345678", "--text", "x"], ["track", "--once", "--now"]):
        result = kmsg(*args, "--db", str(db))
        assert result.exit_code == 74, result.output
        assert errors(result) == [READ_ONLY.format(db)]


# -- a database from a newer kmsg: 78, untouched ------------------------------------------------


def test_a_database_a_newer_kmsg_migrated_is_refused_with_78_and_left_alone(
    kmsg: Kmsg, db: Path
) -> None:
    db.parent.mkdir()
    first_send(kmsg, db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO kmsg_migrations VALUES ('099_from_a_newer_kmsg', 0)")
    conn.close()
    before = db.read_bytes()
    ours = schema_version(name for name, _ in MIGRATIONS)
    for args in (["send", "--to", "01012345678", "--text", "x"], ["status"], ["queue", "list"]):
        result = kmsg(*args, "--db", str(db))
        assert result.exit_code == 78, result.output
        assert errors(result) == [
            f"error: database {db} has schema 99, newer than this kmsg (schema {ours}): "
            "upgrade kmsg"
        ]
    assert db.read_bytes() == before
    assert count(db) == 1


# -- a named database that is not there: 66, nothing created --------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["track", "--once"],
        ["queue", "run", "--once"],
        ["queue", "list"],
        ["send-bulk", "--resume", "rows-1"],
    ],
)
def test_commands_on_recorded_messages_want_a_named_database_to_exist(
    kmsg: Kmsg, tmp_path: Path, args: list[str]
) -> None:
    typo = tmp_path / "no-such-dir" / "kmsg.db"
    result = kmsg(*args, "--db", str(typo))
    assert result.exit_code == 66, result.output
    assert errors(result) == [f"error: database not found: {typo}"]
    assert not typo.parent.exists()


def test_kmsg_db_is_a_named_database_too(
    kmsg: Kmsg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "kmsg-typo.db"
    monkeypatch.setenv("KMSG_DB", str(typo))
    result = kmsg("track", "--once")
    assert result.exit_code == 66, result.output
    assert errors(result) == [f"error: database not found: {typo}"]
    assert not typo.exists()


def test_send_creates_a_named_database_only_in_a_folder_that_exists(
    kmsg: Kmsg, tmp_path: Path
) -> None:
    typo = tmp_path / "no-such-dir" / "kmsg.db"
    result = kmsg("send", "--to", "01012345678", "--text", "hi", "--db", str(typo))
    assert result.exit_code == 66, result.output
    assert errors(result) == [f"error: database folder not found: {typo.parent}"]
    assert not typo.parent.exists()
    fresh = tmp_path / "kmsg.db"
    assert kmsg("send", "--to", "01012345678", "--text", "hi", "--db", str(fresh)).exit_code == 0
    assert count(fresh) == 1


def test_the_default_database_is_created_with_its_folder_on_first_run(
    kmsg: Kmsg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "new" / "home"
    monkeypatch.setenv("KMSG_HOME", str(home))
    assert kmsg("track", "--once").exit_code == 0  # a fresh install's cron: nothing to do
    assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0
    assert count(home / "kmsg.db") == 1
