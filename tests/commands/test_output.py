"""What a reader of kmsg's output sees: piped rows (tsv/csv) instead of box tables, ids alone
with -q, the JSON conventions (warnings, ISO times, --version --json), and colour with meaning
that NO_COLOR/--no-color removes entirely."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from kmsg_cli.core.times import KST
from tests.conftest import FakeClock, Kmsg

ROOT = Path(__file__).resolve().parents[2]
BOX = set("┏┃━┡│─└┘┌┐╇")


def sent_id(kmsg: Kmsg, to: str = "01012345678") -> str:
    result = kmsg("send", "--to", to, "--text", "hi", "-q")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


# -- 1. piped rows, --format ------------------------------------------------------------------
def test_piped_lists_are_tab_separated_rows_without_boxes(kmsg: Kmsg, clock: FakeClock) -> None:
    send = kmsg("send", "--to", "01012345678", "--text", "hi")
    assert send.exit_code == 0, send.output
    [row] = send.stdout.splitlines()
    message_id, to, type_, provider, result = row.split("\t")
    assert (to, type_, provider, result) == ("010-****-5678", "SMS", "mock", "SENT")

    kmsg("suppress", "add", "01099990001", "--reason", "080 opt-out")
    clock.now = int(datetime(2026, 11, 18, 22, 0, tzinfo=KST).timestamp() * 1000)
    ad = "(광고) 세일\n무료거부 080-000-0000"
    assert kmsg("send", "--to", "01012345678", "--text", ad, "--ad", "--defer").exit_code == 0
    for args in (
        ["status"],
        ["status", message_id],
        ["queue", "list"],
        ["providers", "list"],
        ["suppress", "list"],
    ):
        out = kmsg(*args)
        assert out.exit_code == 0, (args, out.output)
        assert out.stdout.strip() and not BOX & set(out.stdout), (args, out.stdout)
        assert all("\t" in line for line in out.stdout.splitlines()), (args, out.stdout)

    status_rows = [line.split("\t") for line in kmsg("status").stdout.splitlines()]
    assert [message_id, "2026-11-18T20:06:40.000+09:00"] == status_rows[-1][:2]


def test_format_table_csv_and_json(kmsg: Kmsg) -> None:
    message_id = sent_id(kmsg)
    table = kmsg("status", "--format", "table")
    assert "1 message(s) in the last 24h" in table.stdout and BOX & set(table.stdout)

    rows = list(csv.reader(io.StringIO(kmsg("status", "--format", "csv").stdout)))
    assert rows[0] == ["id", "requested", "to", "type", "provider", "status", "note"]
    assert rows[1][0] == message_id and rows[1][-2:] == ["SENT", ""]

    as_format = json.loads(kmsg("status", "--format", "json").stdout)
    assert as_format == kmsg.json("status")[1]

    bad = kmsg("status", "--format", "xml")
    assert bad.exit_code == 2


# -- 2. -q prints ids ---------------------------------------------------------------------------
def test_quiet_actions_print_only_their_ids(kmsg: Kmsg, tmp_path: Path) -> None:
    message_id = sent_id(kmsg)
    assert kmsg.json("status", message_id)[1]["message"]["message_id"] == message_id

    two = kmsg("send", "--to", "01011112222,01033334444", "--text", "hi", "-q")
    assert len(two.stdout.split()) == 2 and "\t" not in two.stdout

    held = kmsg("send", "--to", "01012345678", "--text", "later", "--at", "+2h", "-q")
    scheduled = held.stdout.strip()  # the mock holds the schedule: a message id
    assert kmsg("queue", "cancel", scheduled, "-q").stdout == f"{scheduled}\n"

    data = tmp_path / "c.csv"
    data.write_text("name,phone\nKim,01012340001\n", encoding="utf-8")
    bulk = kmsg("send-bulk", str(data), "--text", "{name}", "--yes", "--job", "camp", "-q")
    assert bulk.exit_code == 0 and bulk.stdout == "camp\n"


# -- 3. JSON documents ---------------------------------------------------------------------------
def test_every_document_has_warnings_and_iso_times(kmsg: Kmsg, tmp_path: Path) -> None:
    message_id = sent_id(kmsg)
    data = tmp_path / "c.csv"
    data.write_text("name,phone\nKim,01012340001\n", encoding="utf-8")
    assert kmsg.json("send-bulk", str(data), "--text", "{name}", "--dry-run")[1]["warnings"] == []
    for args in (["status"], ["status", message_id], ["queue", "list"], ["providers", "list"]):
        _, doc = kmsg.json(*args)
        assert doc["warnings"] == [], args
    _, one = kmsg.json("status", message_id)
    message = one["message"]
    assert message["requested_at"] == 1_795_000_000_000
    assert message["requested_at_iso"] == "2026-11-18T20:06:40.000+09:00"
    assert message["delivered_at"] is None and message["delivered_at_iso"] is None
    assert one["history"][0]["at_iso"].endswith("+09:00")


def child(*args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "kmsg_cli", *args], capture_output=True, text=True, env=env
    )
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


@pytest.mark.parametrize("args", [["--version", "--json"], ["--json", "--version"]])
def test_version_json_is_a_document(args: list[str]) -> None:
    doc = child(*args)
    assert doc["schema_version"] == 1 and doc["ok"] is True and doc["version"]


def test_a_usage_error_document_has_warnings_too() -> None:
    doc = child("status", "--limit", "zero", "--json")
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["warnings"] == []


# -- 4. colour -----------------------------------------------------------------------------------
@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")


def test_colour_carries_meaning(kmsg: Kmsg, forced: None) -> None:
    sent_id(kmsg)
    failed = kmsg("send", "--to", "01012349999", "--text", "hi", "--format", "table")
    assert "\x1b[31mFAILED" in failed.stdout  # a failure is red
    assert "\x1b[31merror:\x1b[0m" in failed.stderr
    kmsg("track", "--once", "--now")
    table = kmsg("status", "--format", "table").stdout
    assert "\x1b[32mDELIVERED" in table and "\x1b[2m" in table  # delivered green, ids dim


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_no_color_removes_every_escape(
    kmsg: Kmsg, forced: None, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    flag = ["--no-color"] if how == "--no-color" else []
    if how == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    failed = kmsg("send", "--to", "01012349999", "--text", "hi", "--format", "table", *flag)
    table = kmsg("status", "--format", "table", *flag)
    for text in (failed.stdout, failed.stderr, table.stdout):
        assert "FAILED" in text or "error:" in text
        assert "\x1b" not in text  # bold headers included
