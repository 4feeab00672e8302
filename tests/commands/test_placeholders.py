"""One placeholder syntax for `send` and `send-bulk`: #{name} and {name} in --text, --subject and
--fallback-text; a placeholder is never sent as typed, and a --var nobody uses is a typo (65)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmsg_cli.core import content
from tests.conftest import Kmsg

TO = "01012345678"


def sent_texts(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return [r[0] for r in conn.execute('SELECT "metadata" FROM kmsg_delivery_tracking')]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "text", ["#{name}님 안녕하세요", "{name}님 안녕하세요", "#{ name }님 안녕하세요"]
)
def test_send_fills_both_forms(kmsg: Kmsg, text: str) -> None:
    code, doc = kmsg.json("send", "--to", TO, "--text", text, "--var", "name=김철수", "--dry-run")
    assert code == 0, doc
    assert "김철수님 안녕하세요" in str(doc["requests"])


def test_send_subject_takes_placeholders(kmsg: Kmsg) -> None:
    code, doc = kmsg.json(
        "send", "--to", TO, "--text", "본문", "--subject", "{name} 안내", "--var", "name=김",
        "--dry-run",
    )  # fmt: skip
    assert code == 0, doc
    assert "김 안내" in str(doc["requests"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--text", "Hi {name}", "--var", "nmae=Kim"], "--var nmae is not used by the text; did you mean name?"),
        (["--text", "Hi", "--var", "name=Kim"], "--var name is not used: the text has no placeholders"),
        (["--text", "Hi {name} {code}", "--var", "zzz=1", "--var", "name=a", "--var", "code=b"],
         "--var zzz is not used by the text (its placeholders: name, code)"),
        (["--text", "Hi {name}"], "text uses {name} but no value was given for: name"),
        (["--text", "Hi", "--subject", "#{title}", "--type", "LMS"], "subject uses {title}"),
    ],
)  # fmt: skip
def test_send_refuses_unused_and_missing_variables(
    kmsg: Kmsg, kmsg_home: Path, args: list[str], says: str
) -> None:
    result = kmsg("send", "--to", TO, *args)
    assert result.exit_code == 65, result.output
    assert says in result.stderr
    assert not (kmsg_home / "kmsg.db").exists() or not sent_texts(kmsg_home)


def test_alimtalk_variables_are_checked_against_the_template_not_the_text(kmsg: Kmsg) -> None:
    # the mock's registered template is "Hello #{name}": its variables decide, not --text
    code, doc = kmsg.json(
        "send", "--to", TO, "--template-id", "MOCK_TPL_SEED", "--var", "name=Kim", "--dry-run"
    )  # fmt: skip
    assert code == 0, doc
    code, doc = kmsg.json(
        "send", "--to", TO, "--template-id", "MOCK_TPL_SEED", "--var", "name=Kim",
        "--var", "code=1234", "--dry-run",
    )  # fmt: skip
    assert code == 65 and "code" in doc["error"]["message"], doc


def test_fallback_text_takes_placeholders_and_counts_as_using_a_var(kmsg: Kmsg) -> None:
    code, doc = kmsg.json(
        "send", "--to", TO, "--text", "Hi", "--var", "name=김", "--failover",
        "--fallback-text", "{name}님", "--type", "SMS", "--dry-run",
    )  # fmt: skip
    # --failover is for AlimTalk: the var was accepted (used by the fallback), the type refused
    assert code == 65 and "--failover applies to ALIMTALK only" in doc["error"]["message"]


def test_braces_that_are_not_placeholders_stay_text() -> None:
    text = '{{name}} {} { x} {"k": 1} {a: b} #{a} {b} {고객 이름}'
    assert content.placeholders(text) == ("a", "b", "고객 이름")
    assert content.render(text, {"a": "1", "b": "2", "고객 이름": "김"}) == (
        '{{name}} {} { x} {"k": 1} {a: b} 1 2 김'
    )
