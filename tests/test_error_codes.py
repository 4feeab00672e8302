"""Every JSON error names a specific code, documented in docs/output.md#error-codes: each exit code
has one, each error class's code has a row, and commands that fail by exit code alone say which
kind through it. Phone numbers: the sender is never masked, a typed recipient is shown as typed,
the report follows --show-recipients (docs/output.md#phone-numbers)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

import kmsg_cli.core.ledger  # noqa: F401 - defines error classes of its own
from kmsg_cli.errors import CODES, ExitCode, KmsgError, ProviderError
from tests.conftest import Kmsg

DOC = Path(__file__).resolve().parents[1] / "docs" / "output.md"


def documented() -> dict[str, set[int]]:
    text = DOC.read_text(encoding="utf-8").split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([\d, ]+) \|", text, re.MULTILINE)
    assert rows
    return {code: {int(e) for e in exits.split(",")} for code, exits in rows}


def classes(cls: type[KmsgError]) -> list[type[KmsgError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += classes(sub)
    return found


def code_of(cls: type[KmsgError]) -> str:
    return cls.error_class if issubclass(cls, ProviderError) else cls.code


def test_every_exit_code_maps_to_a_documented_code() -> None:
    table = documented()
    for exit_code in ExitCode:
        if exit_code is ExitCode.OK:
            continue
        code = CODES[exit_code]
        assert code in table, f"exit {exit_code} -> {code} has no row in docs/output.md"
        assert int(exit_code) in table[code]


def test_every_error_class_has_a_documented_code() -> None:
    table = documented()
    for cls in classes(KmsgError):
        if cls.__name__ == "Failed":  # takes its code from each use
            continue
        code = code_of(cls)
        assert code != "error"
        assert code in table, f"{cls.__name__}.code {code!r} has no row in docs/output.md"
        assert cls.exit_code in table[code], f"{cls.__name__}: exit {cls.exit_code}"


def test_a_rejected_send_is_not_a_generic_error(kmsg: Kmsg) -> None:
    code, doc = kmsg.json("send", "--to", "01011119999", "--text", "hi")
    assert code == 1 and doc["error"]["code"] in documented()
    assert doc["error"]["code"] != "error"


def test_a_campaign_with_failed_rows_says_some_failed(kmsg: Kmsg, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text("phone\n01011112222\n01011119999\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", str(data), "--text", "hi", "--yes")
    assert (code, doc["error"]["code"]) == (1, "some_failed")


# -- phone numbers ------------------------------------------------------------------------------


def test_the_senders_own_number_is_never_masked(kmsg: Kmsg) -> None:
    code, doc = kmsg.json(
        "send", "--to", "01012345678", "--from", "0212345678", "--text", "hi", "--dry-run"
    )
    assert code == 0
    assert doc["messages"][0]["from"] == "0212345678"
    assert doc["messages"][0]["to"] == "010-****-5678"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "0101234567890"], "invalid recipient '0101234567890'"),
        (["--to", "01012345678", "--from", "0101234"], "invalid sender number '0101234'"),
    ],
)
def test_what_the_user_typed_is_shown_as_typed(kmsg: Kmsg, args: list[str], says: str) -> None:
    result = kmsg("send", *args, "--text", "hi")
    assert result.exit_code == 65 and says in result.stderr


def test_a_campaign_row_number_stays_masked_in_its_error(kmsg: Kmsg, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text("phone\n0101234567890\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", str(data), "--text", "hi", "--dry-run")
    assert code == 65 and "0101234567890" not in str(doc)


@pytest.mark.parametrize(
    ("flags", "shown"), [((), "010-****-2222"), (("--show-recipients",), "01011112222")]
)
def test_the_report_follows_show_recipients(
    kmsg: Kmsg, tmp_path: Path, flags: tuple[str, ...], shown: str
) -> None:
    data, report = tmp_path / "c.csv", tmp_path / "r.csv"
    data.write_text("phone\n01011112222\n", encoding="utf-8")
    result = kmsg("send-bulk", str(data), "--text", "hi", "--yes", "--report", str(report), *flags)
    assert result.exit_code == 0
    with report.open(encoding="utf-8") as f:
        assert [r["recipient"] for r in csv.DictReader(f)] == [shown]
