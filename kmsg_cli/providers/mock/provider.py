"""The built-in mock provider: the full adapter interface, in process, deterministic, never delivers.

Scenarios by the recipient's last four digits (documented in the README):

    0000  ALIMTALK accepted, then FAILED "not a KakaoTalk user" (code MOCK_3104) -> API failover
    9999  rejected at send (code MOCK_1062, invalid)
    8888  accepted, stays SENT forever (shows the tracking timeout)
    4290  the whole call is rate limited (Retry-After 30 s)
    5030  the whole call fails: provider unavailable
    5040  the whole call times out after the request left: unknown outcome
    4010  the whole call is refused: authentication
    other accepted; DELIVERED on the first status check

Tests can also queue whole-call errors with ``script``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmsg_cli.config import ProviderConfig
from kmsg_cli.core.models import (
    Balance,
    Message,
    MessageType,
    SendResult,
    Status,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.templates import APPROVED, Template
from kmsg_cli.errors import AuthError, ProviderError, RateLimited, Unavailable, UnknownOutcome
from kmsg_cli.providers.mock import PLUGIN
from kmsg_cli.providers.plugin import Adapter, Deps

NOT_KAKAO_USER_CODE = "MOCK_3104"
# the one registered template: an AlimTalk through the mock names it (docs/providers.md#the-mock-provider)
SEED_TEMPLATE = Template("MOCK_TPL_SEED", "seed", APPROVED, "Hello #{name}", raw_status="APPROVED")


class MockProvider(Adapter):
    plugin = PLUGIN  # in process: no other clock, so no clock_offset_ms

    def __init__(self, provider_id: str, config: ProviderConfig, deps: Deps) -> None:
        super().__init__(provider_id, config, deps)
        self.script: list[ProviderError] = []
        self.sent: list[Message] = []
        self.calls = 0

    def _whole_call_error(self, messages: Sequence[Message]) -> ProviderError | None:
        if self.script:
            return self.script.pop(0)
        suffixes = {m.to[-4:] for m in messages}
        pid = self.id
        if "4010" in suffixes:
            return AuthError("mock: API key rejected", provider_id=pid, http_status=401)
        if "4290" in suffixes:
            return RateLimited(
                "mock: rate limited", provider_id=pid, http_status=429, retry_after=30
            )
        if "5030" in suffixes:
            return Unavailable("mock: service unavailable", provider_id=pid, http_status=503)
        if "5040" in suffixes:
            return UnknownOutcome("mock: read timeout after the request was sent", provider_id=pid)
        return None

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        self.calls += 1
        error = self._whole_call_error(messages)
        if error is not None:
            raise error
        now = self.clock.now_ms()
        results = []
        for m in messages:
            if m.to.endswith("9999"):
                results.append(
                    SendResult(
                        m.message_id,
                        Status.FAILED,
                        code="MOCK_1062",
                        error="mock: recipient rejected",
                        error_class="invalid",
                    )
                )
                continue
            self.sent.append(m)
            status = Status.PENDING if m.scheduled_at else Status.SENT
            results.append(
                SendResult(
                    m.message_id,
                    status,
                    provider_message_id=f"mock-{now}-{m.message_id[-8:]}",
                    group_id=f"mock-group-{now}",
                )
            )
        return results

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return [
            {
                "provider": self.id,
                "method": "CALL",
                "url": "mock://send",
                "body": [
                    {"to": m.to, "from": m.sender, "type": m.type.value, "text": m.text}
                    | ({"subject": m.subject} if m.subject else {})
                    | ({"templateId": m.template_id} if m.template_id else {})
                    | ({"image": m.image} if m.image else {})
                    | ({"buttons": [b.as_dict() for b in m.buttons]} if m.buttons else {})
                    for m in messages
                ],
            }
        ]

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        now = self.clock.now_ms()
        reports = []
        for q in queries:
            if q.type is MessageType.ALIMTALK and q.to.endswith("0000"):
                reports.append(
                    StatusReport(
                        q.message_id,
                        Status.FAILED,
                        NOT_KAKAO_USER_CODE,
                        "mock: recipient is not a KakaoTalk user",
                        now,
                    )
                )
            elif q.to.endswith("8888"):
                reports.append(
                    StatusReport(q.message_id, Status.SENT, "MOCK_3000", "mock: sent", now)
                )
            else:
                reports.append(
                    StatusReport(
                        q.message_id, Status.DELIVERED, "MOCK_4000", "mock: delivered", now
                    )
                )
        return reports

    def balance(self) -> Balance:
        return Balance(self.config.balance, "KRW")

    def cancel(self, group_id: str) -> None:
        return None

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        return None  # the mock keeps nothing across processes, so it cannot tell

    def check(self) -> None:
        return None

    def templates(self) -> list[Template]:
        return [SEED_TEMPLATE]

    def template(self, code: str) -> Template | None:
        return SEED_TEMPLATE if code == SEED_TEMPLATE.code else None
