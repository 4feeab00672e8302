"""Input closed at the door: what a user can type that must be refused (exit 65, one line) or
read as what it means, before anything is journaled or sent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
        "error: invalid recipient '010-****-٥٦٧٨': use the digits 0-9 "
        "('١' is a digit of another script)"
    ]
    result = kmsg("send", "--to", "01012345678", "--from", "٠٢١٢٣٤٥٦٧٨", "--text", "hi")
    assert result.exit_code == 65
    assert error_lines(result.stderr) == [
        "error: invalid sender number '٠٢١-****-٥٦٧٨': use the digits 0-9 "
        "('٠' is a digit of another script)"
    ]
    assert kmsg("suppress", "add", "٠١٠١٢٣٤٥٦٧٨").exit_code == 65
    assert sent_to(kmsg_home) == []
