"""`kmsg suppress`: the local opt-out list every send honours (checked at send time)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli.commands._common import app_context, command
from kmsg_cli.core import phone
from kmsg_cli.errors import InputError, InputFileError

if TYPE_CHECKING:
    from rich.console import Console

HELP = """The local opt-out list: numbers kmsg never sends to.

Examples:

\b
  kmsg suppress add 010-1234-5678 --reason "080 opt-out"
  kmsg suppress import optouts.csv
  kmsg suppress list
"""
app = typer.Typer(help=HELP, no_args_is_help=True)

Numbers = Annotated[
    list[str], typer.Argument(metavar="NUMBER...", help="Phone numbers.", show_default=False)
]

# header words that name the number column of an opt-out export (080 services, Excel)
PHONE_HEADERS = (
    "phone",
    "mobile",
    "number",
    "tel",
    "to",
    "recipient",
    "번호",
    "전화",
    "휴대폰",
    "연락처",
)


def _from_lines(lines: Iterable[str]) -> list[tuple[int, str]]:
    """(line number, text) for each number: blank lines and ``#`` comments skipped."""
    return [
        (n, text.strip())
        for n, text in enumerate(lines, start=1)
        if text.strip() and not text.strip().startswith("#")
    ]


def _from_csv(text: str) -> list[tuple[int, str]]:
    """The first column, or the one whose header looks like a phone number's."""
    import csv

    rows = list(csv.reader(text.splitlines()))
    column, start = 0, 0
    if rows and rows[0] and not any(ch.isdigit() for ch in rows[0][0]):
        header = [cell.strip().lower() for cell in rows[0]]
        column = next(
            (i for i, name in enumerate(header) if any(w in name for w in PHONE_HEADERS)), 0
        )
        start = 1
    found = []
    for n, row in enumerate(rows[start:], start=start + 1):
        cell = row[column].strip() if len(row) > column else ""
        if cell and not (column == 0 and cell.startswith("#")):
            found.append((n, cell))
    return found


def _add(ctx: typer.Context, entries: list[tuple[int, str]], reason: str | None) -> int:
    """Add the valid numbers, name each invalid one with its line: exit 65 if there were any."""
    app_ctx = app_context(ctx)
    out = app_ctx.output
    valid: list[str] = []
    invalid: list[dict[str, object]] = []
    for line, raw in entries:
        try:
            valid.append(phone.recipient(raw))
        except InputError as exc:
            invalid.append({"line": line, "error": exc.message})
            if not out.json_mode:
                out.error(f"line {line}: {exc.message}")
    added = app_ctx.store().suppress(valid, reason, app_ctx.clock.now_ms()) if valid else 0
    doc = {"added": added, "already": len(valid) - added, "invalid": invalid}
    summary = f"added {added}, already listed {len(valid) - added}" + (
        f", invalid {len(invalid)}" if invalid else ""
    )
    if invalid:
        error = InputError(f"{len(invalid)} invalid number(s) not added; {summary}")
        if out.json_mode:
            out.fail(error, doc)
        else:
            out.emit(doc, lambda c: c.print(summary))
        return 65
    out.emit(doc, lambda c: c.print(summary))
    return 0


@command(app, "add")
def add(
    ctx: typer.Context,
    numbers: Numbers,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why (kept with the entry).")
    ] = None,
) -> int:
    """Add numbers to the opt-out list.

    - reads them from stdin, one a line.

    Examples:

    \b
      kmsg suppress add 010-1234-5678 --reason "080 opt-out"
      cat numbers.txt | kmsg suppress add -
    """
    if numbers == ["-"]:
        return _add(ctx, _from_lines(sys.stdin.read().splitlines()), reason)
    app_ctx = app_context(ctx)
    normalized = [phone.recipient(n) for n in numbers]
    added = app_ctx.store().suppress(normalized, reason, app_ctx.clock.now_ms())
    app_ctx.output.emit(
        {"added": added, "already": len(normalized) - added, "invalid": []},
        lambda c: c.print(f"added {added}, already listed {len(normalized) - added}"),
    )
    return 0


@command(app, "import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="A CSV or text file: the first column, or one named like phone/번호.",
            show_default=False,
        ),
    ],
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why (kept with the entry).")
    ] = None,
) -> int:
    """Add every number in a file to the opt-out list.

    A CSV export of 080 opt-outs, or a text file with one number a line.

    Examples:

    \b
      kmsg suppress import optouts.csv --reason "080 opt-out"
      kmsg suppress import optouts.txt
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {file}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # a Korean Excel export
        text = raw.decode("cp949", errors="replace")
    return _add(ctx, _from_csv(text), reason)


@command(app, "remove")
def remove(ctx: typer.Context, numbers: Numbers) -> None:
    """Remove numbers from the opt-out list.

    Examples:

    \b
      kmsg suppress remove 010-1234-5678
      kmsg suppress remove 010-1234-5678 010-2222-3333
    """
    app_ctx = app_context(ctx)
    removed = app_ctx.store().unsuppress([phone.normalize(n) for n in numbers])
    app_ctx.output.emit({"removed": removed}, lambda c: c.print(f"removed {removed}"))


@command(app, "list", formats=True)
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Entries to show.")
    ] = 100,
) -> None:
    """List opted-out numbers, newest first.

    Examples:

    \b
      kmsg suppress list
      kmsg suppress list --show-recipients --limit 500
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    entries = app_ctx.store().suppressions(limit)
    doc = {
        "numbers": [{"number": out.phone(n), "added_at": at, "reason": r} for n, at, r in entries]
    }

    def human(_console: Console) -> None:
        out.table(
            ("number", "added", "reason"),
            [(out.phone(n), out.time(at), r or "") for n, at, r in entries],
            empty="the opt-out list is empty",
        )

    out.emit(doc, human, data=True)
