"""`kmsg suppress add -` and `kmsg suppress import FILE`: many numbers at once, bad ones named."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Kmsg


def listed(kmsg: Kmsg) -> set[str]:
    _, doc = kmsg.json("suppress", "list", "--show-recipients")
    return {entry["number"] for entry in doc["numbers"]}


def test_add_reads_stdin_skipping_blanks_and_comments(kmsg: Kmsg) -> None:
    result = kmsg("suppress", "add", "-", input="# opt-outs\n010-1111-2222\n\n01033334444\n")
    assert result.exit_code == 0, result.output
    assert "added 2" in result.stdout
    assert listed(kmsg) == {"01011112222", "01033334444"}


def test_invalid_lines_are_named_and_the_rest_added(kmsg: Kmsg) -> None:
    result = kmsg("suppress", "add", "-", input="01011112222\nnot-a-number\n\n0101234\n")
    assert result.exit_code == 65
    assert "line 2:" in result.stderr and "line 4:" in result.stderr
    assert listed(kmsg) == {"01011112222"}
    code, doc = kmsg.json("suppress", "add", "-", input="x\n01055556666\n")
    assert code == 65 and [i["line"] for i in doc["invalid"]] == [1]
    assert doc["added"] == 1


def test_import_takes_the_phone_column_of_a_csv(kmsg: Kmsg, tmp_path: Path) -> None:
    export = tmp_path / "optout.csv"
    export.write_text(
        "신청일,수신거부번호,비고\n2026-11-01,010-1111-2222,\n2026-11-02,bad,x\n", encoding="utf-8"
    )
    result = kmsg("suppress", "import", str(export), "--reason", "080")
    assert result.exit_code == 65
    assert "line 3:" in result.stderr
    assert listed(kmsg) == {"01011112222"}


def test_import_first_column_without_header_and_cp949(kmsg: Kmsg, tmp_path: Path) -> None:
    plain = tmp_path / "numbers.csv"
    plain.write_bytes("01011112222,홍길동\n01033334444,김\n".encode("cp949"))
    assert kmsg("suppress", "import", str(plain)).exit_code == 0
    assert listed(kmsg) == {"01011112222", "01033334444"}
    assert kmsg("suppress", "import", str(tmp_path / "missing.csv")).exit_code == 66
