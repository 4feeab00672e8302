"""The only module that prints. Data on stdout, diagnostics on stderr.

``--json``: exactly one document on stdout, ``{"schema_version": 1, "ok": ...}``, errors included;
stderr stays silent unless something is fatal (warnings go into the document's ``warnings``).
Human mode: rich, colour off when stdout is not a terminal, with ``--no-color`` or ``NO_COLOR``
(every escape sequence, bold included). Lists go through ``Output.table``: a rich table on a
terminal, tab-separated rows without a header when piped (as ``gh`` does), or ``--format``.

A reader that goes away (``kmsg status | head -1``) ends the output, never the command: every
write goes through ``_Guarded``, so the command still finishes and exits with its own code (a send
whose output pipe closed still says whether its messages were accepted).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, cast

from kmsg_cli.core import phone
from kmsg_cli.core.times import iso, kst
from kmsg_cli.errors import CODES, KmsgError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

SCHEMA_VERSION = 1
FORMATS = ("table", "tsv", "csv", "json")

# colour carries meaning: status words by their first word, ids dim, diagnostics by their prefix
STATUS_STYLE = {"DELIVERED": "green", "FAILED": "red"}
ID_COLUMNS = frozenset({"id", "message_id"})
KEEP_WHOLE = ID_COLUMNS | {"status", "result", "state"}
FOLD_MIN = 8  # a narrower column of text would read as confetti: show rows as lines instead
_ANSI = {"red": "31", "yellow": "33", "green": "32", "dim": "2"}


def status_style(value: str) -> str | None:
    word = value.split(" ", 1)[0] if value else ""
    return STATUS_STYLE.get(word)


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


class _Guarded:
    """A text stream where a closed pipe (EPIPE) discards the output instead of raising: the
    descriptor is pointed at /dev/null, so later writes and the interpreter's flush at exit
    succeed quietly too. Made per use around the stream of the moment (tests swap them, and a
    rich progress bar swaps in its own stderr while it is live)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._discard()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, ... for rich
        return getattr(self.stream, name)

    def _discard(self) -> None:
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):  # not a real file (a test's buffer): nothing to redirect
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def _narrowest(columns: Sequence[str], cells: list[list[str]]) -> int:
    """The least width a boxed table of these cells takes: ids and statuses whole, any other
    column at least FOLD_MIN characters (or its longest word, if shorter), plus the borders."""
    width = 1
    for i, name in enumerate(columns):
        texts = [row[i] for row in cells] + [name]
        if name in KEEP_WHOLE:
            least = max(len(t) for t in texts)
        else:
            least = min(FOLD_MIN, max(len(w) for t in texts for w in t.split() or [""]))
        width += least + 3
    return width


def _widest_words(cells: list[list[str]]) -> int:
    """The least width a headerless table of these cells takes without cutting a word."""
    width = 0
    for column in zip(*cells, strict=True):
        width += max(len(w) for text in column for w in text.split() or [""]) + 2
    return width


def _flat(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _out() -> TextIO:
    return cast("TextIO", _Guarded(sys.stdout))  # what rich and print need of a stream


def _err() -> TextIO:
    return cast("TextIO", _Guarded(sys.stderr))


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
            file=_out(),
            color_system=None if self.no_color else "auto",  # None: no bold either
            no_color=self.no_color,
            highlight=False,
            soft_wrap=True,
            width=width,
        )

    def err_console(self) -> Console:
        from rich.console import Console

        return Console(
            file=_err(),
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
            out = _out()
            for row in rows:
                out.write(_flat(row[0]) + "\n")
            return
        if fmt == "tsv":
            out = _out()
            for row in rows:
                out.write("\t".join(_flat(cell) for cell in row) + "\n")
            return
        if fmt == "csv":
            writer = csv.writer(_out(), lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([["" if c is None else str(c) for c in row] for row in rows])
            return
        from rich.table import Column, Table

        cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
        if not cells:
            self.console().print(empty, markup=False)
            return
        # ids and statuses are never cut: their column is as wide as its longest cell, and the
        # other columns wrap; where even that does not fit, each row is shown as lines of
        # "column value" (a 40-column terminal)
        specs = []
        for i, name in enumerate(columns):
            if header and name in KEEP_WHOLE:
                widest = max((len(row[i]) for row in cells), default=0)
                specs.append(Column(name, no_wrap=True, min_width=max(widest, len(name))))
            else:
                specs.append(Column(name if header else "", overflow="fold"))
        if header:
            table = Table(*specs, title=title)
        else:
            table = Table(*specs, title=title, show_header=False, box=None)
        for row in cells:
            table.add_row(
                *(self._cell(column, text) for column, text in zip(columns, row, strict=True))
            )
        console = self.console()
        if header and _narrowest(columns, cells) > console.width:
            self._stacked(console, columns, cells, title)
            return
        if not header and _widest_words(cells) > console.width:
            self._lines(console, columns, cells, title)
            return
        console.print(table)

    def _lines(
        self, console: Console, columns: Sequence[str], rows: list[list[str]], title: str | None
    ) -> None:
        """A list without a header (a message's fields) too wide to be a table without cutting a
        word: each row one line, the terminal wrapping what it must."""
        from rich.text import Text

        if title:
            console.print(title, markup=False)
        width = max((len(row[0]) for row in rows), default=0) + 2
        for row in rows:
            cells = [self._cell(c, t) for c, t in zip(columns[1:], row[1:], strict=True)]
            console.print(Text(row[0].ljust(width)) + Text(" ").join(cells))

    def _cell(self, column: str, text: str) -> Text:
        from rich.text import Text

        style = "dim" if column in ID_COLUMNS else None
        if column in ("status", "result"):
            style = status_style(text)
        return Text(text, style=style or "")

    def _stacked(
        self, console: Console, columns: Sequence[str], rows: list[list[str]], title: str | None
    ) -> None:
        """A table too wide for the terminal: one block of "column value" lines per row."""
        from rich.text import Text

        label = max(len(c) for c in columns) + 1
        if title:
            console.print(title, markup=False)
        for n, row in enumerate(rows):
            if n:
                console.print()
            for column, text in zip(columns, row, strict=True):
                if text:
                    console.print(Text(column.ljust(label)) + self._cell(column, text))

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
            human(cast("Console", _OnUse(self.console)))  # piped tsv never needs rich

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
        _out().write(text)

    def flush(self) -> None:
        """At the end of a command: what is still buffered goes now, while a closed pipe can
        still be ignored (at interpreter exit it would print a traceback and exit 120)."""
        _out().flush()
        _err().flush()

    @staticmethod
    def can_ask() -> bool:
        """A person at a terminal can answer: stdin and stderr are both a terminal."""
        return sys.stdin.isatty() and sys.stderr.isatty()

    def confirm(self, question: str) -> bool:
        """Ask on the terminal (stderr, so stdout keeps only data). Only y or yes is a yes;
        Enter, anything else, Ctrl-C and Ctrl-D are a no."""
        err = _err()
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
        out = _out()
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
        err = _err()
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


class _OnUse:
    """A console made on first use: a rendering that only writes plain rows never imports rich."""

    def __init__(self, make: Callable[[], Console]) -> None:
        self._make = make
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = self._make()
        return getattr(self._console, name)
