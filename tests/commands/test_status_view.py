"""What `kmsg status` tells a person beyond the status word: why a message failed, that an AlimTalk
fell back to SMS, where and until when a scheduled message is held, whether tracking runs; dates
as well as durations for --since/--until; named filters searched in all time; campaigns listed
and resumed by a prefix of their id."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from kmsg_cli.core.times import KST
from tests.conftest import FakeClock, Kmsg
from tests.trackkit import ALIMTALK_WITH_FAILOVER

AD = "(광고) 겨울 세일 안내\n무료거부 080-000-0000"


@pytest.fixture(autouse=True)
def configured(write_config: Callable[[str], Path]) -> None:
    """A config file, so stderr carries no first-run notice."""
    write_config('[providers.mock]\ntype = "mock"\n')


def kst_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=KST).timestamp() * 1000)


def rows(kmsg: Kmsg, *args: str) -> list[dict[str, str]]:
    result = kmsg("status", *args, "--format", "csv")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def send(kmsg: Kmsg, *args: str) -> str:
    result = kmsg("send", "--text", "hi", *args, "-q")
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


# -- the note column -----------------------------------------------------------------------------
def test_a_failed_over_alimtalk_shows_the_sms_went_out_and_why(kmsg: Kmsg) -> None:
    assert kmsg(*ALIMTALK_WITH_FAILOVER).exit_code == 0
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    by_type = {r["type"]: r for r in rows(kmsg)}
    alimtalk = by_type["ALIMTALK"]
    assert alimtalk["status"] == "FAILED"
    assert "SMS sent instead: SENT" in alimtalk["note"]
    assert "MOCK_3104" in alimtalk["note"]  # the provider's code, kept from its answer
    assert by_type["SMS"]["note"] == "fallback of an AlimTalk"

    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    assert "SMS sent instead: DELIVERED" in rows(kmsg, "--type", "ALIMTALK")[0]["note"]


def test_an_alimtalk_whose_fallback_was_skipped_says_why(kmsg: Kmsg) -> None:
    assert kmsg(*ALIMTALK_WITH_FAILOVER).exit_code == 0
    assert kmsg("suppress", "add", "01011110000").exit_code == 0  # opted out meanwhile
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    [row] = rows(kmsg)
    assert row["note"].startswith(
        "SMS fallback skipped (recipient is on the suppression list); "
    ), row


def test_a_rejected_message_shows_the_providers_reason(kmsg: Kmsg) -> None:
    result = kmsg("send", "--to", "01012349999", "--text", "hi")
    assert result.exit_code == 1
    [row] = rows(kmsg)
    assert row["status"] == "FAILED" and "MOCK_1062" in row["note"]
    _, doc = kmsg.json("status")
    assert "MOCK_1062" in doc["messages"][0]["note"]


def test_scheduled_messages_say_when_and_where_they_are_held(kmsg: Kmsg, clock: FakeClock) -> None:
    clock.now = kst_ms("2026-11-26 22:00")
    send(kmsg, "--to", "01012345678", "--at", "+2h")  # the mock schedules it itself
    deferred = kmsg("send", "--to", "01012345679", "--text", AD, "--ad", "--defer")
    assert deferred.exit_code == 0, deferred.output
    notes = {r["to"]: (r["status"], r["note"]) for r in rows(kmsg)}
    assert notes["010-****-5678"] == ("PENDING", "held by mock until 2026-11-27T00:00:00.000+09:00")
    [job] = kmsg.json("queue", "list")[1]["jobs"]
    assert notes["010-****-5679"] == (
        "QUEUED",
        f"held in kmsg's queue until 2026-11-27T08:00:00.000+09:00 (job {job['id']})",
    )
    table = kmsg("status", "--format", "table").stdout
    assert "held in kmsg's queue until 2026-11-27 08:00:00 KST" in " ".join(table.split())
    scheduled = rows(kmsg, "--to", "01012345678")[0]["id"]
    _, one = kmsg.json("status", scheduled)
    assert one["message"]["note"] == "held by mock until 2026-11-27T00:00:00.000+09:00"


# -- tracking --------------------------------------------------------------------------------------
def test_status_says_how_many_are_due_and_when_tracking_last_checked(
    kmsg: Kmsg, clock: FakeClock
) -> None:
    for n in range(3):
        send(kmsg, "--to", f"0101234000{n + 1}")
    clock.advance(20 * 60)  # nobody ran `kmsg track`
    table = kmsg("status", "--format", "table").stdout
    assert "tracking: 3 message(s) due now" in table and "no check yet" in table
    assert "run `kmsg track --once` from cron" in table
    _, doc = kmsg.json("status")
    assert doc["tracking"]["due"] == 3 and doc["tracking"]["behind"] is True

    once = kmsg("track", "--once", "--limit", "1")
    assert once.exit_code == 0
    assert once.stdout.strip().endswith("; 2 still due")
    assert kmsg.json("track", "--once")[1]["due"] == 0

    table = kmsg("status", "--format", "table").stdout
    assert "tracking: nothing due now; last check" in table and "from cron" not in table


def test_empty_lists_say_so_in_words(kmsg: Kmsg, clock: FakeClock) -> None:
    send(kmsg, "--to", "01012345678")
    clock.advance(2 * 86_400)
    table = kmsg("status", "--format", "table")
    assert table.exit_code == 0
    assert table.stdout.startswith("no messages in the last 24h\n")
    assert kmsg("status").stdout == ""  # piped: rows alone, and there are none
    for args, words in (
        (["send-bulk", "--list"], "no campaigns yet: `kmsg send-bulk FILE` starts one\n"),
        (["queue", "list"], "the queue is empty\n"),
        (["queue", "list", "--failed"], "no jobs match\n"),
        (["suppress", "list"], "the opt-out list is empty\n"),
    ):
        listed = kmsg(*args, "--format", "table")
        assert (listed.exit_code, listed.stdout) == (0, words), args
        assert kmsg(*args).stdout == "", args  # piped: no rows


# -- windows and filters ---------------------------------------------------------------------------
def test_since_and_until_take_dates_as_well_as_durations(kmsg: Kmsg, clock: FakeClock) -> None:
    clock.now = kst_ms("2026-11-30 23:00")
    old = send(kmsg, "--to", "01012345678")
    clock.now = kst_ms("2026-12-01 08:45")
    new = send(kmsg, "--to", "01012345679")
    clock.now = kst_ms("2026-12-03 12:00")

    def ids(*args: str) -> list[str]:
        return [r["id"] for r in rows(kmsg, *args)]

    assert ids() == []  # the default window is the last 24 hours
    assert ids("--since", "7d") == [new, old]
    assert ids("--since", "2026-12-01") == [new]
    assert ids("--since", "2026-12-01 08:30") == [new]
    assert ids("--since", "2026-12-01T08:50+09:00") == []
    assert ids("--since", "2026-11-30T14:00Z") == [new, old]  # 23:00 KST
    assert ids("--since", "7d", "--until", "2026-12-01") == [old]
    assert ids("--since", "2026-11-01", "--until", "2d") == [new, old]

    table = kmsg("status", "--since", "2026-12-01", "--format", "table").stdout
    assert table.startswith("1 message(s) since 2026-12-01 00:00:00 KST\n")
    bad = kmsg("status", "--since", "yesterday")
    assert bad.exit_code == 65 and "invalid --since 'yesterday'" in bad.stderr
    backwards = kmsg("status", "--since", "2026-12-02", "--until", "2026-12-01")
    assert backwards.exit_code == 65 and "is not after" in backwards.stderr


def test_named_filters_are_not_limited_to_the_last_24_hours(
    kmsg: Kmsg, clock: FakeClock, tmp_path: Path
) -> None:
    message_id = send(kmsg, "--to", "01012345678")
    file = tmp_path / "spring.csv"
    file.write_text("to,name\n01011112222,Kim\n", encoding="utf-8")
    assert kmsg("send-bulk", str(file), "--text", "{name}", "--yes").exit_code == 0
    clock.advance(30 * 86_400)

    assert [r["id"] for r in rows(kmsg, "--to", "010-1234-5678")] == [message_id]
    both = rows(kmsg, "--to", "010-1234-5678,01011112222")
    assert sorted(r["to"] for r in both) == ["010-****-2222", "010-****-5678"]
    [job] = kmsg.json("send-bulk", "--list")[1]["campaigns"]
    assert [r["to"] for r in rows(kmsg, "--job", job["id"])] == ["010-****-2222"]
    assert [r["to"] for r in rows(kmsg, "--job", "spring")] == ["010-****-2222"]  # a prefix
    assert rows(kmsg, "--job", job["id"], "--since", "1d") == []  # unless a window is given
    assert kmsg("status", message_id).exit_code == 0


def test_status_job_that_does_not_exist_says_so(kmsg: Kmsg) -> None:
    send(kmsg, "--to", "01012345678")
    result = kmsg("status", "--job", "nightly")
    assert result.exit_code == 66
    assert result.stderr.splitlines()[0] == "error: no campaign or job 'nightly'"
    code, doc = kmsg.json("status", "--job", "nightly")
    assert code == 66 and doc["ok"] is False


# -- campaigns ---------------------------------------------------------------------------------------
def test_send_bulk_list_and_resume_by_prefix(kmsg: Kmsg, tmp_path: Path) -> None:
    for name, numbers in (("spring", ["01011112222", "01011119999"]), ("summer", ["01033334444"])):
        file = tmp_path / f"{name}.csv"
        file.write_text("to,name\n" + "".join(f"{n},Kim\n" for n in numbers), encoding="utf-8")
        kmsg("send-bulk", str(file), "--text", "{name}", "--yes")
    # two campaigns of the same file, different options: ids share the "spring-" prefix
    kmsg("send-bulk", str(tmp_path / "spring.csv"), "--text", "{name}!", "--yes")

    _, doc = kmsg.json("send-bulk", "--list")
    listed = {c["id"].split("-")[0]: c for c in doc["campaigns"]}
    assert listed["summer"]["counts"] == {"messages": 1, "delivered": 0, "failed": 0, "pending": 1}
    assert listed["spring"]["counts"]["failed"] == 1  # 9999: rejected by the mock
    assert listed["summer"]["state"] == "done" and listed["summer"]["created_at_iso"]

    tsv = kmsg("send-bulk", "--list").stdout.splitlines()
    assert len(tsv) == 3 and all(len(line.split("\t")) == 7 for line in tsv)
    table = kmsg("send-bulk", "--list", "--format", "table").stdout
    assert "messages" in table and "delivered" in table

    summer = listed["summer"]["id"]
    resumed = kmsg("send-bulk", "--resume", "summ", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert summer in resumed.stdout and "sent before" in resumed.stdout

    ambiguous = kmsg("send-bulk", "--resume", "spring", "--yes")
    assert ambiguous.exit_code == 65
    first = ambiguous.stderr.splitlines()[0]
    assert "ambiguous" in first and first.count("spring-") == 2
    assert kmsg("send-bulk", "--list", "spring.csv").exit_code == 2
    missing = kmsg("send-bulk", "--resume", "autumn", "--yes")
    assert missing.exit_code == 66 and "error: no campaign 'autumn'" in missing.stderr


# -- narrow terminals ------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [40, 60, 100])
def test_narrow_terminals_never_cut_ids_or_statuses(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmsg_cli.output import Output

    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("COLUMNS", str(columns))
    ids = ["01a235ff6942d5bfcfb1ece700bb2f5d", "01a235ff68701d3e5665d8de00b20cb0:api-fallback"]
    Output(no_color=True).table(
        ("id", "requested", "to", "type", "provider", "status", "note"),
        [
            (
                ids[0],
                "2026-12-02 18:04:20 KST",
                "010-****-5679",
                "SMS",
                "mock",
                "PENDING (outcome unknown)",
                "",
            ),
            (
                ids[1],
                "2026-12-02 18:04:20 KST",
                "010-****-5678",
                "SMS",
                "mock",
                "DELIVERED",
                "x" * 30,
            ),
        ],
    )
    text = screen.getvalue()
    # nothing wider than the terminal but an id that is: the terminal wraps it, nobody cuts it
    assert all(len(line) <= columns or any(i in line for i in ids) for line in text.splitlines())
    for whole in (*ids, "PENDING (outcome unknown)", "DELIVERED"):
        assert whole in text, text
    assert "…" not in text


def test_a_message_s_fields_on_a_narrow_terminal_keep_whole_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kmsg_cli.output import Output

    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("COLUMNS", "40")
    fields = [("message_id", "01a235ff6942d5bfcfb1ece700bb2f5d"), ("provider_message_id", "x")]
    Output(no_color=True).table(("key", "status"), fields, header=False)
    assert screen.getvalue().splitlines() == [
        "message_id           01a235ff6942d5bfcfb1ece700bb2f5d",
        "provider_message_id  x",
    ]
