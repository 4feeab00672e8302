"""Files for `kmsg send-bulk`: the CSV read row by row, stdin kept as a private file, the report."""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from kmsg_cli.core.campaign import RowResult
from kmsg_cli.errors import InputError, InputFileError, UsageError

REPORT_HEADER = ("row", "recipient", "status", "provider", "message_id", "error")


class CsvSource:
    """Rows stream from the file: only the current row is in memory. Row 1 is the first line
    after the header; blank lines are skipped and not counted."""

    def __init__(self, path: Path, encoding: str, digest: str | None = None) -> None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(
                f"unknown --encoding {encoding!r}", hint="use utf-8 or cp949"
            ) from None
        self.path, self.encoding = path, encoding
        self.digest = digest  # of a copy of stdin: what names a piped campaign
        self.row = 0

    def keep(self, dest: Path) -> None:
        """Move the private copy of stdin to ``dest`` (the job's, once the job is taken)."""
        os.replace(self.path, dest)
        self.path = dest

    def _open(self) -> IO[str]:
        try:
            return self.path.open(encoding=self.encoding, newline="")
        except FileNotFoundError:
            raise InputFileError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise InputFileError(f"{self.path}: {exc.strerror}") from None

    def read(self) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
        """(header, rows). Each call reads the file again from the start."""
        handle = self._open()
        reader = csv.reader(handle)
        self.row = 0
        header = self._next(reader, handle)
        if header is None:
            handle.close()
            raise InputError(f"{self.path} is empty", hint="the first line must name the columns")

        def rows() -> Iterator[tuple[int, list[str]]]:
            with handle:
                while (values := self._next(reader, handle)) is not None:
                    self.row += 1
                    yield self.row, values

        return header, rows()

    def _next(self, reader: Iterator[list[str]], handle: IO[str]) -> list[str] | None:
        try:
            for values in reader:
                if any(v.strip() for v in values):
                    return values
            return None
        except UnicodeDecodeError:
            handle.close()
            where = f"row {self.row + 1}" if self.row else "the header"
            hint = "for a Korean Excel export pass --encoding cp949"
            if self.encoding.lower().replace("_", "-") in ("cp949", "euc-kr"):
                hint = "pass --encoding utf-8"
            raise InputError(
                f"{self.path} is not {self.encoding} text ({where})", hint=hint
            ) from None
        except csv.Error as exc:
            handle.close()
            raise InputError(f"{self.path}: malformed CSV at row {self.row + 1}: {exc}") from None


def copy_stdin(folder: Path) -> tuple[Path, str]:
    """Copy stdin to a new private file (mode 0600) in ``folder``: a campaign read from a pipe
    can then be read twice (preview, send) and resumed after a crash. Returns the file and the
    digest of what was read. Each run gets its own file, so no run ever writes over another's."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".stdin-", suffix=".csv", dir=folder)
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        while chunk := sys.stdin.buffer.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return Path(name), digest.hexdigest()


class Report:
    """--report PATH: one CSV line per row, in the order rows finish (sort by row)."""

    def __init__(self, path: Path | None, phone: Callable[[str], str]) -> None:
        self.phone = phone
        self.handle: IO[str] | None = None
        if path is None:
            return
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise InputFileError(f"cannot write --report {path}: {exc.strerror}") from None
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(REPORT_HEADER)

    def add(self, results: list[RowResult]) -> None:
        if self.handle is None:
            return
        self.writer.writerows(
            (
                r.row,
                self.phone(r.to),
                r.state,
                r.provider_id or "",
                r.message_id or "",
                r.error or "",
            )
            for r in results
        )

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


@contextlib.contextmanager
def open_source(source: str, encoding: str, folder: Path | None) -> Iterator[CsvSource]:
    """The CSV at ``source``; stdin (``-``) is copied into ``folder`` (or a temporary folder) and
    the copy removed afterwards unless it was kept for its job (``CsvSource.keep``)."""
    if source != "-":
        yield CsvSource(Path(source), encoding)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path, digest = copy_stdin(folder or Path(tmp))
        try:
            yield CsvSource(path, encoding, digest)
        finally:
            path.unlink(missing_ok=True)  # gone already if it was kept under the job's name


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(now: int, stale_ms: int = 10 * 60 * 1000) -> Callable[[str, int], bool]:
    """Is the run that holds a job still alive? On this host: its process exists. On another
    host (a shared database file): it wrote a heartbeat within ``stale_ms``."""
    host = socket.gethostname()

    def alive(owner: str, heartbeat_at: int) -> bool:
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host:
            return now - heartbeat_at < stale_ms
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, ValueError):
            return True
        return True

    return alive
