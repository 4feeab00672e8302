"""The only module that prints. Data on stdout, diagnostics on stderr.

``--json``: exactly one document on stdout, ``{"schema_version": 1, "ok": ...}``, errors included;
stderr stays silent unless something is fatal (warnings go into the document's ``warnings``).
Human mode: rich, colour off when stdout is not a terminal, with ``--no-color`` or ``NO_COLOR``
(every escape sequence, bold included). Lists go through ``Output.table``: a rich table on a
terminal, tab-separated rows without a header when piped (as ``gh`` does), or ``--format``.

A reader that goes away (``kmsg status | head -1``) ends the output, never the command: every
write goes through ``streams.Guarded``, so the command still finishes and exits with its own code
(a send whose output pipe closed still says whether its messages were accepted).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, cast

from kmsg_cli import streams
from kmsg_cli.core import phone
from kmsg_cli.core.times import iso, kst
from kmsg_cli.errors import CODES, KmsgError

if TYPE_CHECKING:
    from rich.console import Console

SCHEMA_VERSION = 1
FORMATS = ("table", "tsv", "csv", "json")

# colour carries meaning: diagnostics by their prefix (status words and ids: output_table.py)
_ANSI = {"red": "31", "yellow": "33", "green": "32", "dim": "2"}


def colour_wanted(stream: TextIO, no_color: bool) -> bool:
    """Escape sequences only for a terminal (or FORCE_COLOR), never with NO_COLOR/--no-color."""
    if no_color or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def with_iso(doc: Any) -> Any:
    """Every time field of a document (``at`` or ``*_at``, epoch milliseconds) gets a sibling
    ``<name>_iso``: ISO 8601 in Asia/Seoul with its offset, or null when the time is null."""
    if isinstance(doc, list):
        return [with_iso(item) for item in doc]
    if not isinstance(doc, dict):
        return doc
    result: dict[str, Any] = {}
    for key, value in doc.items():
        result[key] = with_iso(value)
        is_time = key == "at" or key.endswith("_at")
        if is_time and (value is None or type(value) is int) and f"{key}_iso" not in doc:
            result[f"{key}_iso"] = iso(value)
    return result


def _flat(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


class Output:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        verbose: int = 0,
        no_color: bool = False,
        show_recipients: bool = False,
        fmt: str | None = None,
    ) -> None:
        self.json_mode = json_mode or fmt == "json"
        self.format = fmt  # None: a table on a terminal, tsv otherwise
        self.quiet = quiet
        self.verbose = verbose
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.show_recipients = show_recipients
        self._said: set[str] = set()
        self.emitted = False
        self.warnings: list[str] = []  # --json: warnings for the next document, not stderr
        self._bar_live = False  # a rich progress bar is being drawn on stderr

    # -- consoles are made on use, so they bind to the streams of the moment (tests swap them)
    def console(self) -> Console:
        from rich.console import Console

        # piped output is read by people and scripts alike: never cut ids to fit 80 columns
        width = None if sys.stdout.isatty() else 200
        return Console(
            file=streams.stdout(),
            color_system=None if self.no_color else "auto",  # None: no bold either
            no_color=self.no_color,
            highlight=False,
            soft_wrap=True,
            width=width,
        )

    def err_console(self) -> Console:
        from rich.console import Console

        return Console(
            file=streams.stderr(),
            color_system=None if self.no_color else "auto",
            no_color=self.no_color,
            highlight=False,
            soft_wrap=True,
        )

    # -- lists --------------------------------------------------------------------------------
    def table_format(self) -> str:
        if self.format in ("table", "tsv", "csv"):
            return self.format
        return "table" if sys.stdout.isatty() else "tsv"

    def prose(self) -> bool:
        """Whether lines around a list (titles, totals) are wanted: only around a rich table;
        piped rows stay rows alone."""
        return self.table_format() == "table"

    def time(self, ms: int | None) -> str:
        """A time cell: Seoul time for people, ISO 8601 with its offset in tsv/csv."""
        if self.table_format() == "table":
            return kst(ms)
        return iso(ms) or ""

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        title: str | None = None,
        header: bool = True,
        empty: str = "nothing to list",
    ) -> None:
        """A list: a rich table (``table``), tab-separated rows without a header (``tsv``: a tab
        or line break inside a cell becomes a space), or CSV with a header row (``csv``). An
        empty table is ``empty`` in words; empty tsv is no rows at all, as scripts expect.
        With --quiet, only the first column (the id), one per line, as for actions."""
        self.emitted = True
        fmt = self.table_format()
        if self.quiet and self.format not in ("csv", "table"):
            out = streams.stdout()
            for row in rows:
                out.write(_flat(row[0]) + "\n")
            return
        if fmt == "tsv":
            out = streams.stdout()
            for row in rows:
                out.write("\t".join(_flat(cell) for cell in row) + "\n")
            return
        if fmt == "csv":
            writer = csv.writer(streams.stdout(), lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([["" if c is None else str(c) for c in row] for row in rows])
            return
        from kmsg_cli.output_table import draw  # rich, only to draw a table on a terminal

        draw(self, columns, rows, title=title, header=header, empty=empty)

    def phone(self, number: str | None) -> str:
        if not number:
            return "-"
        return number if self.show_recipients else phone.mask(number)

    # -- results ------------------------------------------------------------------------------
    def emit(
        self,
        doc: dict[str, Any],
        human: Callable[[Console], None] | None = None,
        *,
        data: bool = False,
        ids: Sequence[str] | None = None,
    ) -> None:
        """The command's result: ``doc`` as JSON, or ``human`` rendering it. ``--quiet`` hides the
        human rendering of actions (send, track), not the answer of a query (``data=True``); an
        action that names what it made or changed (``ids``) prints only those, one a line, so
        ``ID=$(kmsg send ... -q)`` works."""
        self.emitted = True
        if self.json_mode:
            self._document(True, doc)
        elif self.quiet and not data:
            if ids:
                self.write("".join(f"{i}\n" for i in ids))
        elif human is not None:
            human(cast("Console", streams.OnUse(self.console)))  # piped tsv never needs rich

    def fail(
        self, error: KmsgError, doc: dict[str, Any] | None = None, *, exit_code: int | None = None
    ) -> None:
        """Report an error: one line on stderr (and the hint), or the JSON document."""
        if self.json_mode:
            if self.emitted:
                return
            self.emitted = True
            found = error.to_dict()
            if type(error) is KmsgError and exit_code and exit_code != error.exit_code:
                found["code"] = CODES.get(exit_code, error.code)  # the exit code's own kind
            self._document(
                False,
                {**(doc or {}), "error": found, "exit_code": exit_code or error.exit_code},
            )
            return
        self.error(error.message)
        if error.hint:
            self.error(f"hint: {error.hint}", prefix=False)

    def error(self, message: str, *, prefix: bool = True) -> None:
        """One line on stderr; shown even with --quiet (never in --json mode's stdout)."""
        self._stderr(self._paint("error:", "red") + f" {message}" if prefix else message)

    def write(self, text: str) -> None:
        """Raw text on stdout, for results streamed row by row (bulk dry-run)."""
        self.emitted = True
        streams.stdout().write(text)

    def flush(self) -> None:
        """At the end of a command: what is still buffered goes now, while a closed pipe can
        still be ignored (at interpreter exit it would print a traceback and exit 120)."""
        streams.stdout().flush()
        streams.stderr().flush()

    @staticmethod
    def can_ask() -> bool:
        """A person at a terminal can answer: stdin and stderr are both a terminal."""
        return sys.stdin.isatty() and sys.stderr.isatty()

    def confirm(self, question: str) -> bool:
        """Ask on the terminal (stderr, so stdout keeps only data). Only y or yes is a yes;
        Enter, anything else, Ctrl-C and Ctrl-D are a no."""
        err = streams.stderr()
        try:  # the prompt too: a Ctrl-C typed as soon as it shows may arrive before the read
            err.write(f"{question} [y/N] ")
            err.flush()
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            answer = ""
        if not answer.endswith("\n"):  # Ctrl-C or Ctrl-D: the cursor is still on the prompt
            err.write("\n")
        return answer.strip().lower() in ("y", "yes")

    @contextmanager
    def progress(
        self, total: int, now_ms: Callable[[], int], every_s: int = 10
    ) -> Iterator[Callable[[int, str], None]]:
        """Yields ``advance(rows, summary)``. A rich bar on a terminal; otherwise one line every
        ``every_s`` seconds; nothing with --quiet or --json."""
        if self.quiet or self.json_mode:
            yield lambda _n, _s: None
            return
        start = now_ms()
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            columns = (BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
            with Progress(
                *columns, TimeRemainingColumn(), console=self.err_console(), transient=True
            ) as bar:
                task = bar.add_task("", total=total)
                self._bar_live = True
                try:
                    yield lambda n, summary: bar.update(task, advance=n, description=summary)
                finally:
                    self._bar_live = False
            return
        state = {"done": 0, "said": start}

        def advance(n: int, summary: str) -> None:
            state["done"] += n
            now = now_ms()
            if now - state["said"] >= every_s * 1000:
                state["said"] = now
                rate = state["done"] * 1000 / max(1, now - start)
                self._stderr(f"kmsg: {state['done']:,}/{total:,} rows, {summary}, {rate:,.0f}/s")

        yield advance

    def _document(self, ok: bool, doc: dict[str, Any]) -> None:
        full = {"schema_version": SCHEMA_VERSION, "ok": ok, **with_iso(doc)}
        full["warnings"] = [*doc.get("warnings", []), *self.warnings]  # always there, [] if none
        self.warnings = []
        self._json(full)

    def _json(self, doc: dict[str, Any]) -> None:
        out = streams.stdout()
        out.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        out.flush()

    # -- diagnostics on stderr ----------------------------------------------------------------
    def warn(self, message: str) -> None:
        """On stderr, even with --quiet; with --json, in the next document's ``warnings``."""
        if self.json_mode:
            if message not in self.warnings:
                self.warnings.append(message)
            return
        self._stderr(self._paint("warning:", "yellow") + f" {message}")

    def _paint(self, text: str, style: str) -> str:
        if not colour_wanted(sys.stderr, self.no_color):
            return text
        return f"\x1b[{_ANSI[style]}m{text}\x1b[0m"

    def info(self, message: str, *, once: bool = False) -> None:
        if self.quiet or self.json_mode or (once and message in self._said):
            return
        self._said.add(message)
        self._stderr(message)

    def signal_notice(self, message: str) -> None:
        """One line on stderr from a signal handler (not with --quiet or --json). The handler may
        have interrupted a write to ``sys.stderr``, which must not be re-entered, so this is one
        raw write; over a live progress bar it first clears the line the bar is drawn on (the
        bar redraws itself below)."""
        if self.quiet or self.json_mode:
            return
        line = ("\r\x1b[2K" if self._bar_live else "") + message + "\n"
        try:
            fd = sys.stderr.fileno()
        except (OSError, ValueError):  # not a real file (a test's buffer): no re-entry to fear
            self._stderr(message)
            return
        try:
            os.write(fd, line.encode(errors="replace"))
        except OSError:  # stderr closed: the stop goes ahead anyway
            pass

    def debug(self, message: str) -> None:
        if self.verbose:
            self._stderr(message)

    def log(self, message: str) -> None:
        """A -v line (docs/output.md#verbose-output): on stderr, even with --json."""
        if self.verbose:
            import logging

            logging.getLogger("kmsg").info("%s", message)

    def start_log(self) -> None:
        """Route the ``kmsg`` loggers to stderr: INFO with -v, DEBUG with -vv, nothing without.
        logging is imported only when -v asks for it, or when something (httpx) already has."""
        if not self.verbose and "logging" not in sys.modules:
            return
        import logging

        logger = logging.getLogger("kmsg")
        for handler in [h for h in logger.handlers if getattr(h, "kmsg_output", None)]:
            logger.removeHandler(handler)
        logger.propagate = False  # never Python's last-resort handler either
        if not self.verbose:
            logger.setLevel(logging.WARNING)
            return
        logger.setLevel(logging.DEBUG if self.verbose >= 2 else logging.INFO)
        logger.addHandler(_log_handler(self, logging))

    def _stderr(self, line: str) -> None:
        err = streams.stderr()
        err.write(line + "\n")
        err.flush()


def _log_handler(out: Output, logging: Any) -> Any:
    """A handler for -v lines, dim on a terminal, through the same guarded stderr as every
    diagnostic; a log line never ends a command."""

    class Handler(logging.Handler):
        kmsg_output = out

        def emit(self, record: Any) -> None:
            try:
                out._stderr(out._paint(record.getMessage(), "dim"))
            except Exception:
                self.handleError(record)

    return Handler()
