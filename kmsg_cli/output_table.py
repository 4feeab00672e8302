"""A list as a rich table on a terminal (``Output.table``): ids and statuses whole, the other
columns wrapped, and where even that does not fit each row shown as lines of "column value".
Imported only when a table is drawn, as rich is: piped rows never load either."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from kmsg_cli.output import Output

# colour carries meaning: status words by their first word, ids dim (diagnostics: output.py)
STATUS_STYLE = {"DELIVERED": "green", "FAILED": "red"}
ID_COLUMNS = frozenset({"id", "message_id"})
KEEP_WHOLE = ID_COLUMNS | {"status", "result", "state"}
FOLD_MIN = 8  # a narrower column of text would read as confetti: show rows as lines instead


def status_style(value: str) -> str | None:
    word = value.split(" ", 1)[0] if value else ""
    return STATUS_STYLE.get(word)


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


def draw(
    out: Output,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None,
    header: bool,
    empty: str,
) -> None:
    """``Output.table`` on a terminal (or --format table): the rows on ``out``'s console."""
    from rich.table import Column, Table

    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not cells:
        out.console().print(empty, markup=False)
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
        table.add_row(*(_cell(column, text) for column, text in zip(columns, row, strict=True)))
    console = out.console()
    if header and _narrowest(columns, cells) > console.width:
        _stacked(console, columns, cells, title)
        return
    if not header and _widest_words(cells) > console.width:
        _lines(console, columns, cells, title)
        return
    console.print(table)


def _lines(
    console: Console, columns: Sequence[str], rows: list[list[str]], title: str | None
) -> None:
    """A list without a header (a message's fields) too wide to be a table without cutting a
    word: each row one line, the terminal wrapping what it must."""
    from rich.text import Text

    if title:
        console.print(title, markup=False)
    width = max((len(row[0]) for row in rows), default=0) + 2
    for row in rows:
        cells = [_cell(c, t) for c, t in zip(columns[1:], row[1:], strict=True)]
        console.print(Text(row[0].ljust(width)) + Text(" ").join(cells))


def _cell(column: str, text: str) -> Text:
    from rich.text import Text

    style = "dim" if column in ID_COLUMNS else None
    if column in ("status", "result"):
        style = status_style(text)
    return Text(text, style=style or "")


def _stacked(
    console: Console, columns: Sequence[str], rows: list[list[str]], title: str | None
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
                console.print(Text(column.ljust(label)) + _cell(column, text))
