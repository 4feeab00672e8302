"""The only module that prints. Data on stdout, diagnostics on stderr.

``--json``: exactly one document on stdout, ``{"schema_version": 1, "ok": ...}``, errors included;
stderr stays silent unless something is fatal (warnings go into the document's ``warnings``).
Human mode: rich, colour off when stdout is not a terminal, with ``--no-color`` or ``NO_COLOR``.

A reader that goes away (``kmsg status | head -1``) ends the output, never the command: every
write goes through ``_Guarded``, so the command still finishes and exits with its own code (a send
whose output pipe closed still says whether its messages were accepted).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, cast

from kmsg_cli.core import phone
from kmsg_cli.errors import KmsgError

if TYPE_CHECKING:
    from rich.console import Console

SCHEMA_VERSION = 1


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
        verbose: bool = False,
        no_color: bool = False,
        show_recipients: bool = False,
    ) -> None:
        self.json_mode = json_mode
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
            file=_out(), no_color=self.no_color, highlight=False, soft_wrap=True, width=width
        )

    def err_console(self) -> Console:
        from rich.console import Console

        return Console(file=_err(), no_color=self.no_color, highlight=False, soft_wrap=True)

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
    ) -> None:
        """The command's result: ``doc`` as JSON, or ``human`` rendering it. ``--quiet`` hides the
        human rendering of actions (send, track), not the answer of a query (``data=True``)."""
        self.emitted = True
        if self.json_mode:
            self._document(True, doc)
        elif human is not None and (data or not self.quiet):
            human(self.console())

    def fail(
        self, error: KmsgError, doc: dict[str, Any] | None = None, *, exit_code: int | None = None
    ) -> None:
        """Report an error: one line on stderr (and the hint), or the JSON document."""
        if self.json_mode:
            if self.emitted:
                return
            self.emitted = True
            self._document(
                False,
                {
                    **(doc or {}),
                    "error": error.to_dict(),
                    "exit_code": exit_code or error.exit_code,
                },
            )
            return
        self.error(error.message)
        if error.hint:
            self.error(f"hint: {error.hint}", prefix=False)

    def error(self, message: str, *, prefix: bool = True) -> None:
        """One line on stderr; shown even with --quiet (never in --json mode's stdout)."""
        self._stderr(f"error: {message}" if prefix else message)

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
        full = {"schema_version": SCHEMA_VERSION, "ok": ok, **doc}
        if self.warnings or "warnings" in doc:
            full["warnings"] = [*doc.get("warnings", []), *self.warnings]
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
        self._stderr(f"warning: {message}")

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

    def _stderr(self, line: str) -> None:
        err = _err()
        err.write(line + "\n")
        err.flush()
