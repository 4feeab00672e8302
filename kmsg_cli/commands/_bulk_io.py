"""Files for `kmsg send-bulk`: the CSV read row by row, stdin kept as a private file, the report."""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import os
import re
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from kmsg_cli.core.campaign import RowResult
from kmsg_cli.errors import InputError, InputFileError, UsageError

if TYPE_CHECKING:
    from _csv import Reader

REPORT_HEADER = ("row", "recipient", "status", "provider", "message_id", "error")
_UNDECODED = re.compile(r"[\ud800-\udfff]")  # what surrogateescape makes of a byte it cannot decode


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
            # surrogateescape: an undecodable byte reaches _next inside the row that holds it; a
            # strict read fails a whole buffer ahead, so the error would name the wrong row
            return self.path.open(encoding=self.encoding, errors="surrogateescape", newline="")
        except FileNotFoundError:
            raise InputFileError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise InputFileError(f"{self.path}: {exc.strerror}") from None

    def header(self) -> list[str]:
        """Only the header line, to check it before anything else happens."""
        header, rows = self.read()
        for _ in rows:  # the first row: the generator closes the file as it ends
            break
        else:
            return header
        rows.close()  # type: ignore[attr-defined]  # a generator: runs its `with`, closing the file
        return header

    def read(self) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
        """(header, rows). Each call reads the file again from the start."""
        handle = self._open()
        reader = csv.reader(handle)
        self.row = 0
        header = self._next(reader, handle, "the header")
        if header is None:
            handle.close()
            raise InputError(f"{self.path} is empty", hint="the first line must name the columns")

        def rows() -> Iterator[tuple[int, list[str]]]:
            with handle:
                while (values := self._next(reader, handle, f"row {self.row + 1}")) is not None:
                    self.row += 1
                    yield self.row, values

        return header, rows()

    def _next(self, reader: Reader, handle: IO[str], where: str) -> list[str] | None:
        try:
            for values in reader:
                line = "".join(values)
                if line and not line.isspace():  # a line of blank cells is skipped
                    if _UNDECODED.search(line):
                        raise self._not_text(f"{where}, line {reader.line_num}")
                    return values
            return None
        except InputError:
            handle.close()
            raise
        except csv.Error as exc:
            handle.close()
            raise InputError(f"{self.path}: malformed CSV at {where}: {exc}") from None

    def _not_text(self, where: str) -> InputError:
        hint = "for a Korean Excel export pass --encoding cp949"
        if self.encoding.lower().replace("_", "-") in ("cp949", "euc-kr"):
            hint = "pass --encoding utf-8"
        return InputError(f"{self.path} is not {self.encoding} text ({where})", hint=hint)


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
                _cell(self.phone(r.to)),
                _cell(r.state),
                _cell(r.provider_id or ""),
                _cell(r.message_id or ""),
                _cell(r.error or ""),
            )
            for r in results
        )

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


# a spreadsheet opening the report runs a cell that starts with one of these as a formula, and
# cells carry what the CSV and the provider said (a recipient as written, an error message)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """The OWASP advice for CSV injection: a leading single quote makes the cell plain text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


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


def this_host() -> str:
    """This machine, as campaign owners name it: the host name and a digest of the kernel's boot
    id and the machine id, so two machines (or a container and its host) that share a host name
    are still told apart, and a run from before a reboot is not mistaken for a live process here
    (docs/storage.md#locks-and-leases)."""
    marks = []
    for path in ("/proc/sys/kernel/random/boot_id", "/etc/machine-id"):
        try:
            marks.append(Path(path).read_text().strip())
        except OSError:
            continue
    if not marks:  # no such files (macOS, Windows): the host name alone
        return socket.gethostname()
    digest = hashlib.sha256("/".join(marks).encode()).hexdigest()[:12]
    return f"{socket.gethostname()}/{digest}"


def this_process() -> str:
    return f"{this_host()}:{os.getpid()}"


def owner_alive(now: int, stale_ms: int = 10 * 60 * 1000) -> Callable[[str, int], bool]:
    """Is the run that holds a job still alive? On this host (this_host: its name, boot and
    machine): its process exists. On another host, or this one before a reboot: it wrote a
    heartbeat within ``stale_ms``."""
    host = this_host()

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
