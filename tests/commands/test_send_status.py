"""`kmsg send` and `kmsg status` through the CLI, asserting exit codes, stdout and the database."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Kmsg


def rows(
    home: Path, sql: str = 'SELECT "type","to","status","provider_id" FROM kmsg_delivery_tracking'
) -> list[tuple]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_first_run_sends_on_the_mock_and_status_shows_it(kmsg: Kmsg, kmsg_home: Path) -> None:
    result = kmsg("send", "--to", "010-1234-5678", "--text", "hello")
    assert result.exit_code == 0, result.output
    assert "built-in mock provider" in result.stderr
    assert "010-****-5678" in result.stdout and "01012345678" not in result.stdout
    assert rows(kmsg_home) == [("SMS", "01012345678", "SENT", "mock")]

    status = kmsg("status")
    assert status.exit_code == 0
    assert "SENT" in status.stdout and "010-****-5678" in status.stdout

    code, doc = kmsg.json("status")
    message_id = doc["messages"][0]["message_id"]
    code, one = kmsg.json("status", message_id)
    assert code == 0 and one["ok"] is True
    assert one["message"]["message_id"] == message_id
    assert [h["source"] for h in one["history"]] == ["send"]


def test_status_accepts_an_id_prefix(kmsg: Kmsg) -> None:
    kmsg("send", "--to", "01012345678", "--text", "hi")
    _, doc = kmsg.json("status")
    mid = doc["messages"][0]["message_id"]
    _, one = kmsg.json("status", mid[:10])
    assert one["message"]["message_id"] == mid
    code, missing = kmsg.json("status", "nope")
    assert code == 65 and "no message" in missing["error"]["message"]


def test_bad_number_exits_65_with_one_line_and_nothing_recorded(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    result = kmsg("send", "--to", "123", "--text", "x")
    assert result.exit_code == 65
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: invalid recipient '123': expected a Korean mobile number like 010-1234-5678"
    ]
    assert "Traceback" not in result.output
    assert not (kmsg_home / "kmsg.db").exists() or rows(kmsg_home) == []


def test_46_hangul_is_recorded_as_lms_and_refused_as_sms(kmsg: Kmsg, kmsg_home: Path) -> None:
    text = "가" * 46
    assert kmsg("send", "--to", "01012345678", "--text", text).exit_code == 0
    assert rows(kmsg_home)[0][0] == "LMS"
    refused = kmsg("send", "--to", "01012345679", "--text", text, "--type", "SMS")
    assert refused.exit_code == 65
    assert "92 bytes" in refused.stderr
    assert len(rows(kmsg_home)) == 1


def test_text_from_stdin_and_variables(kmsg: Kmsg) -> None:
    code, doc = kmsg.json(
        "send", "--to", "01012345678", "--text", "-", "--var", "name=Kim", input="Hi #{name}"
    )
    assert code == 0 and doc["accepted"] == 1
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "Hi #{name}")
    assert code == 65 and "name" in doc["error"]["message"]


def test_idempotency_key_never_sends_twice(kmsg: Kmsg, kmsg_home: Path) -> None:
    first = kmsg.json(
        "send", "--to", "01012345678", "--text", "hi", "--idempotency-key", "deploy-42"
    )
    second = kmsg.json(
        "send", "--to", "01012345678", "--text", "hi", "--idempotency-key", "deploy-42"
    )
    assert first[0] == second[0] == 0
    assert second[1]["messages"][0]["state"] == "duplicate"
    assert second[1]["messages"][0]["message_id"] == first[1]["messages"][0]["message_id"]
    assert len(rows(kmsg_home)) == 1


def test_multiple_recipients_and_partial_failure_exit_1(kmsg: Kmsg, kmsg_home: Path) -> None:
    code, doc = kmsg.json("send", "--to", "01011112222,01012349999", "--text", "hi")
    assert code == 1 and doc["ok"] is False
    assert [m["state"] for m in doc["messages"]] == ["accepted", "rejected"]
    assert sorted(r[2] for r in rows(kmsg_home)) == ["FAILED", "SENT"]


@pytest.mark.parametrize(
    ("suffix", "code", "state"),
    [
        ("4010", 77, "FAILED"),
        ("5030", 69, "FAILED"),
        ("4290", 75, "FAILED"),
        ("5040", 75, "PENDING"),
    ],
)
def test_whole_call_errors_map_to_exit_codes(
    kmsg: Kmsg, kmsg_home: Path, suffix: str, code: int, state: str
) -> None:
    result = kmsg("send", "--to", f"0101234{suffix}", "--text", "hi")
    assert result.exit_code == code, result.output
    assert rows(kmsg_home)[0][2] == state  # unknown outcome stays pollable, never FAILED


def test_dry_run_prints_the_request_and_sends_nothing(kmsg: Kmsg, kmsg_home: Path) -> None:
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "가" * 46, "--dry-run")
    assert code == 0 and doc["dry_run"] is True
    assert doc["messages"][0]["type"] == "LMS" and doc["messages"][0]["bytes"] == 92
    assert "01012345678" not in str(doc)  # masked unless --show-recipients
    assert not (kmsg_home / "kmsg.db").exists() or rows(kmsg_home) == []


def test_missing_secret_exits_78_naming_the_variable(
    kmsg: Kmsg, write_config: Callable[[str], Path], kmsg_home: Path
) -> None:
    write_config('[providers.sol]\ntype = "solapi"\napi_key = "env:MISSING"\napi_secret = "s"\n')
    result = kmsg("send", "--to", "01012345678", "--text", "hi")
    assert result.exit_code == 78
    assert "MISSING" in result.stderr and "providers.sol.api_key" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_config_key_exits_78_naming_it(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    write_config('[providers.m]\ntype = "mock"\ncolour = "red"\n')
    result = kmsg("send", "--to", "01012345678", "--text", "hi")
    assert result.exit_code == 78
    assert "providers.m.colour" in result.stderr


def test_round_robin_rotates_across_separate_runs(
    kmsg: Kmsg, write_config: Callable[[str], Path], kmsg_home: Path
) -> None:
    write_config(
        '[providers.m1]\ntype = "mock"\n[providers.m2]\ntype = "mock"\n'
        '[routing]\nstrategy = "round_robin"\nby_type = { SMS = ["m1", "m2"] }\n'
    )
    for _ in range(3):
        assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0
    used = [
        r[0]
        for r in rows(
            kmsg_home, "SELECT provider_id FROM kmsg_delivery_tracking ORDER BY requested_at, rowid"
        )
    ]
    assert used == ["m1", "m2", "m1"]


def test_next_provider_is_tried_only_when_not_accepted(
    kmsg: Kmsg, write_config: Callable[[str], Path], kmsg_home: Path
) -> None:
    write_config(
        '[providers.m1]\ntype = "mock"\n[providers.m2]\ntype = "mock"\n'
        '[routing]\nby_type = { SMS = ["m1", "m2"] }\n'
    )
    # 5030 is unavailable on every mock, so both are tried and the row ends FAILED on m2
    result = kmsg("send", "--to", "01012345030", "--text", "hi")
    assert result.exit_code == 69
    assert "trying m2" in result.stderr
    assert rows(kmsg_home)[0][3] == "m2"
    # 5040 is an unknown outcome: never retried elsewhere
    result = kmsg("send", "--to", "01012345040", "--text", "hi")
    assert result.exit_code == 75 and "trying" not in result.stderr


def test_json_mode_prints_one_document_even_for_errors(kmsg: Kmsg) -> None:
    code, doc = kmsg.json("send", "--to", "123", "--text", "x")
    assert code == 65 and doc["ok"] is False and doc["exit_code"] == 65
    assert doc["schema_version"] == 1


def test_global_options_work_after_the_subcommand(kmsg: Kmsg, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.db"
    assert kmsg("send", "--to", "01012345678", "--text", "hi", "--db", str(db), "-q").exit_code == 0
    assert db.exists()
    assert kmsg("--db", str(db), "status", "--show-recipients").stdout.count("01012345678") == 1


def test_suppressed_numbers_are_never_sent(kmsg: Kmsg, kmsg_home: Path) -> None:
    assert kmsg("suppress", "add", "010-1234-5678", "--reason", "opt-out").exit_code == 0
    code, doc = kmsg.json("send", "--to", "01012345678,01022223333", "--text", "hi")
    assert code == 1
    assert [m["state"] for m in doc["messages"]] == ["suppressed", "accepted"]
    assert [r[1] for r in rows(kmsg_home)] == ["01022223333"]
    assert kmsg("suppress", "remove", "01012345678").exit_code == 0
    assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0


def test_missing_options_are_usage_errors_but_empty_text_is_invalid_input(kmsg: Kmsg) -> None:
    assert kmsg("send", "--text", "hi").exit_code == 2
    assert kmsg("send", "--to", "01012345678").exit_code == 2
    result = kmsg("send", "--to", "01012345678", "--text", "")
    assert result.exit_code == 65 and "empty" in result.stderr


@pytest.mark.parametrize(
    ("piped", "kind"),
    [
        ("a" * 90 + "\n", "SMS"),
        ("a" * 90 + "\r\n", "SMS"),
        ("a" * 90, "SMS"),
        ("a" * 90 + "\n\n", "LMS"),
    ],
    ids=["echo", "crlf", "printf", "blank-line-kept"],
)
def test_text_from_stdin_loses_exactly_one_line_ending(kmsg: Kmsg, piped: str, kind: str) -> None:
    # `echo ... | kmsg send --text -` adds a newline nobody meant to pay LMS for
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "-", input=piped)
    assert code == 0 and doc["messages"][0]["type"] == kind


def test_a_text_too_long_for_an_sms_says_it_goes_as_lms(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    write_config('[providers.mock]\ntype = "mock"\n\n[prices]\nSMS = 9.9\nLMS = 30\n')
    note = (
        "text is 92 bytes, over the 90-byte SMS limit: it goes as LMS "
        "(+20.1 KRW a message: LMS 30, SMS 9.9 KRW)"
    )
    result = kmsg("send", "--to", "01012345678,01022223333", "--text", "가" * 46)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [f"warning: {note}"]  # once, for both recipients
    result = kmsg("send", "--to", "01012345679", "--text", "가" * 46, "--json")
    assert result.stderr == "" and json.loads(result.stdout)["warnings"] == [note]
    # a type that was chosen, or that a subject implies, is no surprise
    for extra in (["--type", "LMS"], ["--subject", "공지"]):
        code, doc = kmsg.json("send", "--to", "01012345670", "--text", "가" * 46, *extra)
        assert code == 0 and doc["warnings"] == []
    code, doc = kmsg.json("send", "--to", "01012345670", "--text", "가" * 45)
    assert doc["messages"][0]["type"] == "SMS" and doc["warnings"] == []


def _insert_copy(home: Path, source_id: str, new_id: str) -> None:
    conn = sqlite3.connect(home / "kmsg.db")
    cols = [r[1] for r in conn.execute("PRAGMA table_info(kmsg_delivery_tracking)")]
    quoted = ",".join(f'"{c}"' for c in cols)
    select = ",".join("?" if c in ("message_id", "idempotency_key") else f'"{c}"' for c in cols)
    conn.execute(
        f"INSERT INTO kmsg_delivery_tracking ({quoted}) SELECT {select} "
        "FROM kmsg_delivery_tracking WHERE message_id = ?",
        (new_id, None, source_id),
    )
    conn.commit()
    conn.close()


def test_tables_show_short_ids_and_status_resolves_them(kmsg: Kmsg, kmsg_home: Path) -> None:
    kmsg("send", "--to", "01012345678", "--text", "hi")
    _, doc = kmsg.json("status")
    mid = doc["messages"][0]["message_id"]
    table = kmsg("status", "--format", "table").stdout
    assert mid[:7] in table and mid not in table  # the shortest unique prefix, 7 at least
    assert mid in kmsg("status", "--format", "tsv").stdout  # scripts keep whole ids

    # an AlimTalk's API fallback shares its prefix: the exact original wins
    _insert_copy(kmsg_home, mid, mid + ":api-fallback")
    _, one = kmsg.json("status", mid[:7])
    assert one["message"]["message_id"] == mid
    _, fb = kmsg.json("status", mid[:7] + ":api")
    assert fb["message"]["message_id"] == mid + ":api-fallback"

    # two messages sharing 9 characters: the table shows 10, and 9 is ambiguous (65, both named)
    twin = mid[:9] + ("0" if mid[9] != "0" else "1") + mid[10:]
    _insert_copy(kmsg_home, mid, twin)
    table = kmsg("status", "--format", "table").stdout
    assert mid[:10] in table and twin[:10] in table and mid[:11] not in table
    code, err = kmsg.json("status", mid[:9])
    assert code == 65
    assert mid in err["error"]["message"] and twin in err["error"]["message"]
    assert kmsg.json("status", mid[:10])[1]["message"]["message_id"] == mid
