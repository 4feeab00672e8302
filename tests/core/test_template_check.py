"""The template check every AlimTalk passes, as pure functions (core/templates.py)."""

from __future__ import annotations

import pytest

from kmsg_cli.core.models import Message, MessageType
from kmsg_cli.core.templates import Button, Sender, Template, apply, check_sender
from kmsg_cli.errors import InputError

BODY = "#{name}님\r\n주문 #{ order }: #{name}"


def alimtalk(text: str = "", **variables: str) -> Message:
    return Message("m1", MessageType.ALIMTALK, "01012345678", None, text, template_id="T1",
                   variables=variables)  # fmt: skip


def test_variables_are_distinct_in_order_body_then_button_links() -> None:
    t = Template("T1", "n", "approved", BODY, (Button("b", link_mo="https://x/#{idx}#{name}"),))
    assert t.variables == ("name", "order", "idx")


def test_apply_renders_the_body_keeping_its_line_breaks() -> None:
    t = Template("T1", "n", "approved", BODY)
    out = apply(alimtalk(name="김", order="7"), t, "p")
    assert out.text == "김님\r\n주문 7: 김"
    # a --text (rendered by compose) equal to the template up to line endings is accepted; the provider's bytes win
    assert apply(alimtalk("김님\n주문 7: 김", name="김", order="7"), t, "p").text == out.text


def test_apply_refuses_other_text_a_missing_variable_and_an_unapproved_template() -> None:
    t = Template("T1", "n", "approved", BODY)
    with pytest.raises(InputError, match="differs from the registered template 'T1'"):
        apply(alimtalk("hello", name="김", order="7"), t, "p")
    with pytest.raises(InputError, match=r"needs #\{order\}"):
        apply(alimtalk(name="김"), t, "p")
    rejected = Template("T1", "n", "rejected", BODY, raw_status="REJ")
    with pytest.raises(InputError, match=r"is rejected \(REJ\), not approved"):
        apply(alimtalk(name="김", order="7"), rejected, "p")


def test_an_unknown_template_or_sender_list_checks_nothing() -> None:
    message = alimtalk(name="김")
    assert apply(message, None, "p") is message
    check_sender("0212345678", None, "p")


def test_check_sender_refuses_absent_and_inactive_numbers() -> None:
    listed = [Sender("0212345678"), Sender("0311234567", active=False, status="PENDING")]
    check_sender("0212345678", listed, "p")
    with pytest.raises(InputError, match="not registered with provider 'p'"):
        check_sender("0299999999", listed, "p")
    with pytest.raises(InputError, match="is PENDING at provider 'p', not active"):
        check_sender("0311234567", listed, "p")
