"""A message SOLAPI has that failed after acceptance (3xxx: an AlimTalk to a non-KakaoTalk user)
was sent: reconciling it must never make it look rejected, which would send it again (found by
the multi-host test, tests/store/test_many_hosts.py)."""

from __future__ import annotations

from kmsg_cli.core.models import Status
from kmsg_cli.providers.solapi.lookup import _parse_received_page


def page(code: str) -> dict[str, object]:
    row = {"messageId": "M1", "groupId": "G1", "statusCode": code, "customFields": {"kmsgId": "a"}}
    return {"messageList": {"M1": row}, "nextKey": None}


def test_a_delivery_failure_found_later_is_an_accepted_send() -> None:
    (found,), _ = _parse_received_page(page("3104"), {"a"})
    assert found.accepted and found.status is Status.SENT and found.provider_message_id == "M1"


def test_a_registration_rejection_found_later_is_still_a_rejection() -> None:
    (found,), _ = _parse_received_page(page("1011"), {"a"})
    assert not found.accepted and found.status is Status.FAILED
