"""The process's standard streams as kmsg writes them (every write goes through output.py).

A reader that goes away (``kmsg status | head -1``) ends the output, never the command; and a
console is made only when something is drawn, so plain rows never import rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from rich.console import Console


class Guarded:
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


def stdout() -> TextIO:
    return cast("TextIO", Guarded(sys.stdout))  # what rich and print need of a stream


def stderr() -> TextIO:
    return cast("TextIO", Guarded(sys.stderr))


class OnUse:
    """A console made on first use: a rendering that only writes plain rows never imports rich."""

    def __init__(self, make: Callable[[], Console]) -> None:
        self._make = make
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = self._make()
        return getattr(self._console, name)
