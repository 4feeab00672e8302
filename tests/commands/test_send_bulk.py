"""`kmsg send-bulk` on the built-in mock: preview, invalid rows, report, reruns, exit codes."""

from __future__ import annotations

import csv
import json
import os
import socket
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from kmsg_cli.commands._bulk_io import owner_alive, this_host
from tests.conftest import Kmsg

TEXT = "{name}님, 주문이 출발했습니다"


def campaign(path: Path, n: int, *, bad_every: int = 0, header: str = "name,phone") -> Path:
    """n rows; every ``bad_every``-th row has an invalid number. Numbers end in 1, clear of the
    mock's scenario suffixes (9999 rejected, 4290 rate limited, ...)."""
    lines = [header]
    for i in range(1, n + 1):
        number = (
            "0101234" if bad_every and i % bad_every == 0 else f"010{20_000_000 + i * 10 + 1:08d}"
        )
        lines.append(f"고객{i},{number}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tracked(home: Path) -> Counter[str]:
    if not (home / "kmsg.db").exists():
        return Counter()
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        rows = conn.execute('SELECT "send_state" FROM kmsg_delivery_tracking').fetchall()
    finally:
        conn.close()
    return Counter(r[0] for r in rows)


def test_ten_thousand_rows_fifty_invalid(kmsg: Kmsg, kmsg_home: Path, tmp_path: Path) -> None:
    data = campaign(tmp_path / "big.csv", 10_000, bad_every=200)
    code, doc = kmsg.json("send-bulk", str(data), "--text", TEXT, "--dry-run")
    assert code == 65
    invalid = [r for r in doc["rows"] if not r["valid"]]
    assert len(invalid) == 50 and invalid[0]["row"] == 200
    assert "invalid recipient" in invalid[0]["error"]
    assert doc["summary"]["valid"] == 9_950 and not tracked(kmsg_home)  # nothing sent

    report = tmp_path / "report.csv"
    result = kmsg("send-bulk", str(data), "--text", TEXT, "--yes", "--report", str(report))
    assert result.exit_code == 1
    assert tracked(kmsg_home) == {"accepted": 9_950}
    with report.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10_000
    assert Counter(r["status"] for r in rows) == {"accepted": 9_950, "invalid": 50}
    assert sorted(int(r["row"]) for r in rows) == list(range(1, 10_001))
    assert next(r for r in rows if r["row"] == "1")["recipient"] == "010-****-0011"  # masked
    assert oct(report.stat().st_mode & 0o777) == "0o600"


def test_rerunning_the_same_command_sends_nothing_again(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    data = campaign(tmp_path / "c.csv", 30)
    assert kmsg("send-bulk", "--yes", str(data), "--text", TEXT).exit_code == 0
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", TEXT)
    assert code == 0 and doc["sent_before"] == 30
    assert tracked(kmsg_home) == {"accepted": 30}
    # a fixed or added row goes out; the others still do not
    with data.open("a", encoding="utf-8") as f:
        f.write("새고객,01099998888\n")
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", TEXT)
    assert code == 0 and doc["counts"]["accepted"] == 1 and doc["counts"]["already_sent"] == 30
    assert tracked(kmsg_home) == {"accepted": 31}


def test_json_counts_add_up_and_failures_exit_1(kmsg: Kmsg, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text(
        "phone,name\n01011112222,a\n01011119999,b\nnot-a-number,c\n01011112222,a\n",
        encoding="utf-8",
    )
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", "hi {name}")
    assert code == 1 and doc["ok"] is False
    counts = doc["counts"]
    assert (counts["accepted"], counts["failed"], counts["invalid"], counts["duplicate"]) == (
        1,
        1,
        1,
        1,
    )
    assert sum(counts.values()) == doc["rows"] == 4


def test_rows_sent_with_a_warning_are_named_before_sending(kmsg: Kmsg, tmp_path: Path) -> None:
    """A single send warns of characters EUC-KR cannot carry; a campaign says it once, before it
    sends, naming the first such row and how many more there are (--strict makes them invalid)."""
    data = tmp_path / "w.csv"
    data.write_text("phone,name\n01011112221,김철수\n01011112231,똠이\n01011112241,뷁\n")
    result = kmsg("send-bulk", str(data), "--text", "{name}님", "--yes")
    assert result.exit_code == 0, result.output
    line = "warning: row 2: characters EUC-KR cannot carry (똠): providers may reject or replace "
    assert line + "them (1 more row with a warning)" in result.stderr
    dry = kmsg("send-bulk", str(data), "--text", "{name}님 안녕!", "--dry-run")
    assert dry.exit_code == 0 and line + "them (1 more row with a warning)" in dry.stderr
    code, doc = kmsg.json("send-bulk", str(data), "--text", "{name}님 안녕", "--yes")
    assert code == 0 and any(w.startswith("row 2: characters EUC-KR") for w in doc["warnings"])
    code, doc = kmsg.json("send-bulk", str(data), "--text", "{name}님!", "--yes", "--strict")
    assert code == 1 and doc["counts"]["invalid"] == 2 and doc["warnings"] == []


def test_suppressed_numbers_are_not_sent(kmsg: Kmsg, kmsg_home: Path, tmp_path: Path) -> None:
    data = campaign(tmp_path / "c.csv", 3)
    assert kmsg("suppress", "add", "010-2000-0021").exit_code == 0
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", TEXT)
    assert code == 1 and doc["counts"]["suppressed"] == 1 and doc["counts"]["accepted"] == 2


@pytest.mark.parametrize(
    ("args", "content", "code", "says"),
    [
        (["--text", "{name}"], "name,who\na,01011112222\n", 65, "no recipient column"),
        (["--text", "{nmae}"], "name,to\na,01011112222\n", 65, "{nmae}, which is not a column"),
        ([], "name,to\na,01011112222\n", 65, "no message text"),
        (["--text", "x", "--to-column", "hp"], "name,to\n", 65, "--to-column 'hp'"),
        (["--text", "x"], "", 65, "is empty"),
        (["--text", "x", "--encoding", "klingon"], "to\n", 2, "unknown --encoding"),
    ],
)
def test_bad_input_is_one_line_and_its_exit_code(
    kmsg: Kmsg, tmp_path: Path, args: list[str], content: str, code: int, says: str
) -> None:
    data = tmp_path / "c.csv"
    data.write_text(content, encoding="utf-8")
    result = kmsg("send-bulk", "--yes", str(data), *args)
    assert result.exit_code == code, result.output
    assert says in result.stderr and "Traceback" not in result.output


def test_missing_file_is_66(kmsg: Kmsg, tmp_path: Path) -> None:
    result = kmsg("send-bulk", str(tmp_path / "nope.csv"), "--text", "x")
    assert result.exit_code == 66 and "no such file" in result.stderr


def test_korean_excel_exports(kmsg: Kmsg, kmsg_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "excel.csv"
    data.write_bytes("이름,수신번호\n홍길동,010-2222-3333\n".encode("cp949"))
    result = kmsg("send-bulk", "--yes", str(data), "--text", "{이름}님 안녕하세요")
    assert result.exit_code == 65 and "--encoding cp949" in result.stderr
    assert (
        kmsg("send-bulk", "--yes", str(data), "--text", "{이름}님", "--encoding", "cp949").exit_code
        == 0
    )
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffto,text\n01033334444,안녕 {to}\n".encode())
    assert kmsg("send-bulk", "--yes", str(bom)).exit_code == 0
    assert tracked(kmsg_home) == {"accepted": 2}


def test_max_cost_refuses_before_sending(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    write_config('[providers.mock]\ntype = "mock"\n\n[prices]\nSMS = 9.9\nLMS = 30\n')
    data = campaign(tmp_path / "c.csv", 100)
    result = kmsg("send-bulk", "--yes", str(data), "--text", TEXT, "--max-cost", "500")
    assert (
        result.exit_code == 65 and "estimated cost 990 KRW is above --max-cost 500" in result.stderr
    )
    assert not tracked(kmsg_home)
    assert (
        kmsg("send-bulk", "--yes", str(data), "--text", TEXT, "--max-cost", "1000").exit_code == 0
    )


def test_stdin_and_types_per_row(kmsg: Kmsg, kmsg_home: Path) -> None:
    rows = "to,type,subject,text\n01011112222,LMS,공지,긴 안내\n01022223333,,,짧은 안내\n"
    code, doc = kmsg.json("send-bulk", "--yes", "-", input=rows)
    assert code == 0 and doc["counts"]["accepted"] == 2
    conn = sqlite3.connect(kmsg_home / "kmsg.db")
    types = sorted(r[0] for r in conn.execute("SELECT type FROM kmsg_delivery_tracking"))
    conn.close()
    assert types == ["LMS", "SMS"]
    assert not list((kmsg_home / "bulk").glob("*.csv"))  # the private copy of stdin is gone


def test_a_job_held_by_a_live_run_is_refused(kmsg: Kmsg, kmsg_home: Path, tmp_path: Path) -> None:
    data = campaign(tmp_path / "c.csv", 3)
    assert kmsg("send-bulk", "--yes", str(data), "--text", TEXT, "--job", "spring").exit_code == 0
    conn = sqlite3.connect(kmsg_home / "kmsg.db")
    live = f"{this_host()}:{os.getppid()}"  # another process that is certainly alive
    conn.execute("UPDATE kmsg_campaigns SET owner = ?, state = 'running'", (live,))
    conn.commit()
    conn.close()
    with data.open("a", encoding="utf-8") as f:
        f.write("새고객,01099998888\n")
    result = kmsg("send-bulk", "--yes", str(data), "--text", TEXT, "--job", "spring")
    assert result.exit_code == 75 and "is being sent by" in result.stderr


def test_a_run_on_another_machine_with_the_same_host_name_is_judged_by_its_heartbeat() -> None:
    """Two machines that share a host name (cloned VMs, containers with a fixed --hostname): a pid
    that is not running here says nothing about a run over there; only its heartbeat does."""
    now = 10 * 60 * 1000 * 6
    alive = owner_alive(now)
    twin = f"{socket.gethostname()}/0123456789ab:{2**22 + 7}"  # same name, another boot/machine
    assert alive(twin, now - 1000)  # beat a second ago: alive, though no such pid runs here
    assert not alive(twin, now - 11 * 60 * 1000)  # silent past the stale limit: gone
    assert not alive(f"{this_host()}:{2**22 + 7}", now)  # this machine, no such process: gone
    if Path("/proc/sys/kernel/random/boot_id").exists():  # Linux: the owner names the machine
        assert this_host().startswith(f"{socket.gethostname()}/") and this_host() != twin[:-8]


def test_resume_uses_the_saved_file_and_options(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    data = campaign(tmp_path / "c.csv", 5)
    assert kmsg("send-bulk", "--yes", str(data), "--text", TEXT, "--job", "j1").exit_code == 0
    code, doc = kmsg.json("send-bulk", "--yes", "--resume", "j1")
    assert code == 0 and doc["ok"] is True and doc["sent_before"] == 5
    result = kmsg("send-bulk", "--resume", "nope")
    assert result.exit_code == 66 and "no campaign 'nope'" in result.stderr
    assert kmsg("send-bulk", "--yes", str(data), "--resume", "j1").exit_code == 2


def test_dry_run_json_is_one_document(kmsg: Kmsg, tmp_path: Path) -> None:
    data = campaign(tmp_path / "c.csv", 3)
    result = kmsg("send-bulk", str(data), "--text", TEXT, "--dry-run", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["ok"] is True and len(doc["rows"]) == 3
    assert doc["rows"][0]["text"] == "고객1님, 주문이 출발했습니다"


def test_an_empty_cell_used_by_the_text_makes_the_row_invalid(kmsg: Kmsg, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text("to,name,amount\n01011112221,김,1000\n01011112231,이,\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", str(data), "--text", "{name}님 {amount}원", "--dry-run")
    assert code == 65
    assert [(r["row"], r["valid"]) for r in doc["rows"]] == [(1, True), (2, False)]
    assert doc["rows"][1]["error"] == "{amount} is empty in this row"


def test_refused_authentication_stops_the_campaign_with_77(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    write_config('[providers.mock]\ntype = "mock"\nmax_batch = 2\n')
    data = tmp_path / "c.csv"
    rows = ["01011114010"] + [f"0101111{n:04d}" for n in range(1, 6)]  # mock: ...4010 -> 401
    data.write_text("to\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", "hi", "--concurrency", "1")
    assert code == 77 and doc["stopped"] is True
    assert tracked(kmsg_home) == {"refused": 2}  # the first chunk only; nothing after it


def test_a_rerun_with_only_invalid_rows_left_still_says_so(kmsg: Kmsg, tmp_path: Path) -> None:
    data = campaign(tmp_path / "c.csv", 4, bad_every=2)
    assert kmsg("send-bulk", "--yes", str(data), "--text", TEXT).exit_code == 1
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", TEXT)
    assert code == 1 and doc["ok"] is False and doc["sent_before"] == 2 and doc["invalid"] == 2


def test_a_file_with_a_header_and_no_rows_sends_nothing_and_says_so(
    kmsg: Kmsg, tmp_path: Path
) -> None:
    data = tmp_path / "today.csv"  # an export that found nobody today is not a failure
    data.write_text("name,phone\n", encoding="utf-8")
    result = kmsg("send-bulk", "--yes", str(data), "--text", TEXT)
    assert result.exit_code == 0
    assert "has a header and no rows" in result.stdout and "invalid" not in result.stdout
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", TEXT)
    assert code == 0 and doc["rows"] == 0 and doc["invalid"] == 0


def test_max_cost_without_prices_is_a_configuration_error(kmsg: Kmsg, tmp_path: Path) -> None:
    data = campaign(tmp_path / "c.csv", 2)
    result = kmsg("send-bulk", "--yes", str(data), "--text", TEXT, "--max-cost", "100")
    assert result.exit_code == 78 and "--max-cost needs a price for SMS" in result.stderr


def kst_ms(hour: int, minute: int = 0) -> int:
    from datetime import datetime, timedelta, timezone

    return int(
        datetime(2026, 11, 18, hour, minute, tzinfo=timezone(timedelta(hours=9))).timestamp() * 1000
    )


def test_ad_rows_follow_the_korean_rules(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, clock
) -> None:
    data = tmp_path / "c.csv"
    data.write_text(
        "to,ad,text\n"
        "01011112221,yes,(광고) 세일 무료거부 080-123-4567\n"
        "01011112231,yes,세일합니다\n"  # an ad without (광고) and an 080 line
        "01011112241,,안내 문자\n"
        "01011112251,maybe,안내\n",
        encoding="utf-8",
    )
    clock.now = kst_ms(22)
    result = kmsg("send-bulk", "--yes", str(data))
    assert result.exit_code == 75 and "21:00 and 08:00 KST" in result.stderr
    assert not tracked(kmsg_home)
    clock.now = kst_ms(8)
    code, doc = kmsg.json("send-bulk", "--yes", str(data))
    assert code == 1 and doc["counts"]["accepted"] == 2 and doc["counts"]["invalid"] == 2


def test_without_a_terminal_nothing_is_sent_without_yes(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    write_config('[providers.mock]\ntype = "mock"\n\n[prices]\nSMS = 9.9\nLMS = 30\n')
    data = campaign(tmp_path / "c.csv", 3)
    result = kmsg("send-bulk", str(data), "--text", TEXT)  # cron, CI, a pipe: nobody to ask
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: 3 messages to send (3 SMS; estimated cost 29.7 KRW) and no terminal to confirm "
        "on: nothing sent",
        "hint: pass --yes to send them",
    ]
    result = kmsg("send-bulk", str(data), "--text", TEXT, "--json")  # --json is no yes either
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and result.stderr == ""
    assert (doc["ok"], doc["exit_code"], doc["error"]["code"]) == (False, 2, "not_confirmed")
    assert doc["to_send"] == 3 and doc["cost"] == pytest.approx(29.7)
    assert doc["error"]["hint"] == "pass --yes to send them"
    assert not tracked(kmsg_home)
    assert kmsg("send-bulk", str(data), "--text", TEXT, "--yes").exit_code == 0
    assert tracked(kmsg_home) == {"accepted": 3}
