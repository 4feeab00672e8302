"""Input closed at the door: what a user can type that must be refused (exit 65, one line) or
read as what it means, before anything is journaled or sent."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kmsg_cli.commands._bulk_io import Report
from kmsg_cli.core.campaign import RowResult
from tests.conftest import Kmsg


def sent_to(home: Path) -> list[str]:
    if not (home / "kmsg.db").exists():
        return []
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return [r[0] for r in conn.execute('SELECT "to" FROM kmsg_delivery_tracking')]
    finally:
        conn.close()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- phone numbers ---------------------------------------------------------------------------


def test_fullwidth_digits_are_the_ascii_number_on_the_wire_and_for_the_opt_out_list(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    assert kmsg("send", "--to", "010２２２２３３３３", "--text", "hi").exit_code == 0
    assert sent_to(kmsg_home) == ["01022223333"]

    assert kmsg("suppress", "add", "01012345678").exit_code == 0
    code, doc = kmsg.json("send", "--to", "010１２３４５６７８", "--text", "hi")
    assert code == 65 and doc["messages"][0]["state"] == "suppressed"
    assert sent_to(kmsg_home) == ["01022223333"]


def test_a_fullwidth_copy_of_a_recipient_is_listed_twice(kmsg: Kmsg, kmsg_home: Path) -> None:
    result = kmsg("send", "--to", "01012345678,０１０-１２３４-５６７８", "--text", "hi")
    assert result.exit_code == 65
    assert error_lines(result.stderr) == ["error: recipient 010-****-5678 is listed twice"]
    assert sent_to(kmsg_home) == []


def test_other_scripts_digits_are_refused_as_recipient_and_sender(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    result = kmsg("send", "--to", "010١٢٣٤٥٦٧٨", "--text", "hi")
    assert result.exit_code == 65
    assert error_lines(result.stderr) == [
        "error: invalid recipient '010١٢٣٤٥٦٧٨': use the digits 0-9 "  # as typed
        "('١' is a digit of another script)"
    ]
    result = kmsg("send", "--to", "01012345678", "--from", "٠٢١٢٣٤٥٦٧٨", "--text", "hi")
    assert result.exit_code == 65
    assert error_lines(result.stderr) == [
        "error: invalid sender number '٠٢١٢٣٤٥٦٧٨': use the digits 0-9 "  # never masked
        "('٠' is a digit of another script)"
    ]
    assert kmsg("suppress", "add", "٠١٠١٢٣٤٥٦٧٨").exit_code == 65
    assert sent_to(kmsg_home) == []


# -- text that is not UTF-8 ------------------------------------------------------------------


def queued(home: Path) -> int:
    if not (home / "kmsg.db").exists():
        return 0
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return int(conn.execute('SELECT count(*) FROM "kmsg_jobs"').fetchone()[0])
    finally:
        conn.close()


def test_invalid_utf8_on_stdin_is_refused_before_anything_is_journaled(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    for extra in ([], ["--at", "+2h"]):
        result = kmsg("send", "--to", "01012345678", "--text", "-", *extra, input=b"hi \xff there")
        assert result.exit_code == 65, result.output
        assert error_lines(result.stderr) == [
            "error: text is not valid UTF-8 (character 4 is the byte 0xff)"
        ]
    assert sent_to(kmsg_home) == [] and queued(kmsg_home) == 0


def test_undecodable_argv_text_and_variables_are_refused(kmsg: Kmsg, kmsg_home: Path) -> None:
    # Python hands invalid argv bytes on as lone surrogates (surrogateescape): b"a\xffb" is this
    undecoded = "a\udcffb"
    cases = [
        (["--text", undecoded], "text is not valid UTF-8 (character 2 is the byte 0xff)"),
        (
            ["--text", "hi #{name}", "--var", f"name={undecoded}"],
            "variable 'name' is not valid UTF-8 (character 2 is the byte 0xff)",
        ),
        (
            ["--text", "hi #{name}", "--vars", '{"name": "\\ud800"}'],
            "variable 'name' is not valid UTF-8 (character 1 is a lone surrogate U+D800)",
        ),
        (["--text", "hi", "--type", "LMS", "--subject", undecoded], "subject is not valid UTF-8"),
    ]
    for args, says in cases:
        result = kmsg("send", "--to", "01012345678", *args)
        assert result.exit_code == 65, result.output
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"error: {says}"), lines
    assert sent_to(kmsg_home) == []


def test_a_csv_row_that_is_not_utf8_is_named_and_nothing_is_sent(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "c.csv"
    data.write_bytes(b'to,name\n01011112222,Kim\n\n01011113333,"L\nee\xff"\n')
    for dry in ([], ["--dry-run"]):
        result = kmsg("send-bulk", str(data), "--text", "{name}", "--yes", *dry)
        assert result.exit_code == 65, result.output
        assert error_lines(result.stderr) == [
            f"error: {data} is not utf-8-sig text (row 2, line 5)"
        ]
    header = tmp_path / "h.csv"
    header.write_bytes(b"to,n\xe9me\n01011112222,Kim\n")
    result = kmsg("send-bulk", str(header), "--text", "hi", "--yes")
    assert result.exit_code == 65
    assert error_lines(result.stderr) == [
        f"error: {header} is not utf-8-sig text (the header, line 1)"
    ]
    assert sent_to(kmsg_home) == []


def test_bulk_text_that_is_not_utf8_is_one_error_not_one_per_row(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "c.csv"
    data.write_text("to,name\n01011112222,Kim\n01011113333,Lee\n", encoding="utf-8")
    result = kmsg("send-bulk", str(data), "--text", "hi \udcff{name}", "--yes")
    assert result.exit_code == 65
    assert error_lines(result.stderr) == [
        "error: --text is not valid UTF-8 (character 4 is the byte 0xff)"
    ]
    assert sent_to(kmsg_home) == []


# -- --at ------------------------------------------------------------------------------------


def test_at_beyond_the_providers_horizon_is_refused_and_nothing_is_queued(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    for at in ("9999-12-31", "+100000d", "+181d"):
        result = kmsg("send", "--to", "01012345678", "--text", "hi", "--at", at)
        assert result.exit_code == 65, result.output
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"error: --at '{at}' is more than 180 days")
    assert queued(kmsg_home) == 0 and sent_to(kmsg_home) == []
    assert kmsg("queue", "list").exit_code == 0
    # the horizon itself is fine, and the past is refused as before
    assert kmsg("send", "--to", "01012345678", "--text", "hi", "--at", "+180d").exit_code == 0
    past = kmsg("send", "--to", "01012345678", "--text", "hi", "--at", "2020-01-01")
    assert past.exit_code == 65 and "is in the past" in past.stderr


# -- config values ---------------------------------------------------------------------------

MOCK = '[providers.m]\ntype = "mock"\n'


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        (MOCK + 'base_url = "ftp://example.com"\n', "providers.m.base_url: must be an http://"),
        (MOCK + 'base_url = "localhost:8080"\n', "providers.m.base_url: must be an http://"),
        (
            MOCK + 'base_url = "http://127.0.0.1:99999"\n',
            "providers.m.base_url: must be an http://",
        ),
        (
            '[providers.a]\ntype = "aligo"\napi_key = "k"\nuser_id = "u"\nkakao_base_url = "x"\n',
            "providers.a.kakao_base_url: must be an http://",
        ),
        (MOCK + "timeout_seconds = 0\n", "providers.m.timeout_seconds: Input should be greater"),
        (MOCK + "timeout_seconds = inf\n", "providers.m.timeout_seconds: Input should be a finite"),
        (MOCK + "timeout_seconds = nan\n", "providers.m.timeout_seconds: Input should be a finite"),
        (MOCK + "rate_per_second = -2.5\n", "providers.m.rate_per_second: Input should be greater"),
        (MOCK + "rate_per_second = inf\n", "providers.m.rate_per_second: Input should be a finite"),
        (MOCK + "max_batch = 0\n", "providers.m.max_batch: Input should be greater"),
        (MOCK + "max_batch = inf\n", "providers.m.max_batch: Input should be a valid integer"),
        (MOCK + "balance = nan\n", "providers.m.balance: Input should be a finite"),
        (MOCK + "[prices]\nSMS = -1\n", "prices.SMS: Input should be greater than or equal to 0"),
        (MOCK + "[prices]\nLMS = nan\n", "prices.LMS: Input should be a finite"),
        (MOCK + "[prices]\nMMS = inf\n", "prices.MMS: Input should be a finite"),
        (MOCK + "[tracking]\nbackoff_seconds = [30, 0]\n", "tracking.backoff_seconds.1:"),
        (MOCK + "[tracking]\nretention_days = 9223372036854775807\n", "tracking.retention_days:"),
        (MOCK + "[tracking]\nconcurrency = 0\n", "tracking.concurrency:"),
        (MOCK + "[defaults.sms]\nauto_lms_bytes = nan\n", "defaults.sms.auto_lms_bytes:"),
    ],
)
def test_config_values_that_make_no_sense_exit_78_naming_the_key(
    kmsg: Kmsg, write_config: Callable[[str], Path], toml: str, says: str
) -> None:
    path = write_config(toml)
    for command in (["config", "validate"], ["send", "--to", "01012345678", "--text", "hi"]):
        result = kmsg(*command)
        assert result.exit_code == 78, result.output
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: {says}"), lines


def test_config_values_at_their_limits_are_fine(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    write_config(
        MOCK + 'base_url = "http://127.0.0.1:8080/v4"\ntimeout_seconds = 5\nrate_per_second = 0.5\n'
        "balance = 0\n[prices]\nSMS = 0\nLMS = 30.5\n"
    )
    assert kmsg("config", "validate").exit_code == 0
    assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0


# -- send-bulk CSV header --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("to,name,name", "the header names column 'name' twice (columns 2 and 3)"),
        ("to, name ,amount,name", "the header names column 'name' twice (columns 2 and 4)"),
        ("phone,name,phone ", "the header names column 'phone' twice (columns 1 and 3)"),
    ],
)
def test_duplicate_header_names_exit_65_naming_the_column(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, header: str, says: str
) -> None:
    data = tmp_path / "c.csv"
    cells = ",".join(["01011112222"] + ["x"] * (header.count(",")))
    data.write_text(f"{header}\n{cells}\n", encoding="utf-8")
    for dry in ([], ["--dry-run"]):
        result = kmsg("send-bulk", str(data), "--text", "hi {name}", "--yes", *dry)
        assert result.exit_code == 65, result.output
        assert error_lines(result.stderr) == [f"error: {says}"]
    assert sent_to(kmsg_home) == []


def test_unnamed_columns_from_trailing_commas_are_not_duplicates(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "c.csv"
    data.write_text("to,name,,\n01011112222,Kim,,\n", encoding="utf-8")
    assert kmsg("send-bulk", str(data), "--text", "hi {name}", "--yes").exit_code == 0
    assert sent_to(kmsg_home) == ["01011112222"]


# -- the --report CSV ------------------------------------------------------------------------


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return sorted(csv.DictReader(f), key=lambda r: int(r["row"]))


def test_report_cells_a_spreadsheet_would_run_as_formulas_are_escaped(
    kmsg: Kmsg, tmp_path: Path
) -> None:
    rows = (
        'to,name\n01011112222,Kim\n"=HYPERLINK(""http://x"",""y"")",Lee\n@SUM(1+1),Park\n'
        "-2+3,Choi\n+82 10 1111 333,Jung\n"
    )
    report = tmp_path / "report.csv"
    for name, shown in (("shown.csv", ["--show-recipients"]), ("masked.csv", [])):
        data = tmp_path / name
        data.write_text(rows, encoding="utf-8")
        args = ["send-bulk", str(data), "--text", "hi {name}", "--yes", "--report", str(report)]
        assert kmsg(*args, *shown).exit_code == 1  # the invalid rows
        recipients = [r["recipient"] for r in report_rows(report)]
        if shown:
            assert recipients == [
                "01011112222",
                '\'=HYPERLINK("http://x","y")',
                "'@SUM(1+1)",
                "'-2+3",
                "'+82 10 1111 333",
            ]
        else:  # a masked number starts with a digit or '*': written as it is
            assert recipients[0] == "010-****-2222"
            assert all(r[0] in "0*" for r in recipients), recipients


def test_report_error_cells_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    report = Report(path, lambda number: number)
    report.add(
        [
            RowResult(row=1, to="01011112222", state="rejected", error="=cmd|' /C calc'!A0"),
            RowResult(row=2, to="01011113333", state="rejected", error="\tinvalid sender"),
            RowResult(row=3, to="01011114444", state="rejected", error="no such '=1+1'"),
        ]
    )
    report.close()
    assert [r["error"] for r in report_rows(path)] == [
        "'=cmd|' /C calc'!A0",
        "'\tinvalid sender",
        "no such '=1+1'",
    ]
