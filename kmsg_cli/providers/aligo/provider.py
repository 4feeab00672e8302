"""The Aligo provider: sends through the pure builders in ``build`` and the shared Transport."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from kmsg_cli.config import ProviderConfig
from kmsg_cli.core.models import (
    Balance,
    Message,
    MessageType,
    SendResult,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.templates import ChannelState, Template, TemplateChange, TemplateSpec
from kmsg_cli.errors import ConfigError, InvalidRequest
from kmsg_cli.providers.aligo import PLUGIN, build
from kmsg_cli.providers.aligo import templates as tpl
from kmsg_cli.providers.base import Secrets, chunks, in_order, int_code, read_image, run_calls
from kmsg_cli.providers.http import Req, Transport, join_url
from kmsg_cli.providers.http_outcomes import json_body
from kmsg_cli.providers.plugin import Adapter, Deps

MASS_LIMIT = 500  # /send_mass/ and Kakao sends


class AligoProvider(Adapter):
    plugin = PLUGIN
    template_ops = PLUGIN.capabilities.template_admin

    def __init__(self, provider_id: str, config: ProviderConfig, deps: Deps) -> None:
        super().__init__(provider_id, config, deps)
        self.sms_url = config.base_url or build.SMS_URL
        self.kakao_url = config.kakao_base_url or config.base_url or build.KAKAO_URL
        self.transport = Transport(
            provider_id,
            deps.http,
            deps.clock,
            timeout_seconds=config.timeout_seconds,
            rate_per_second=config.rate_per_second,
        )
        self.secrets = Secrets(provider_id, config, self.transport)

    @property
    def clock_offset_ms(self) -> int | None:
        """Aligo's clock minus ours (ms) by the latest response's Date; None before any."""
        return self.transport.clock_offset_ms

    def _sms_creds(self, masked: bool = False) -> build.SmsCreds:
        get = self.secrets.get
        return build.SmsCreds(get("api_key", masked=masked), get("user_id", masked=masked))

    def _kakao_creds(self, masked: bool = False) -> build.KakaoCreds:
        get = self.secrets.get
        token = get("token", masked=masked) if self.config.token else None
        return build.KakaoCreds(
            get("api_key", masked=masked),
            get("user_id", masked=masked),
            get("sender_key", masked=masked),
            token,
        )

    def _call(self, req: Req, *, send: bool, parse: Callable[[Any], Any]) -> Any:
        def parse_response(response: httpx.Response) -> Any:
            return parse(json_body(response, send=send, provider_id=self.id))

        return self.transport.call(req, send=send, parse=parse_response)

    # ----------------------------------------------------------------- send

    def _groups(self, messages: Sequence[Message]) -> list[list[Message]]:
        """MMS one per call (multipart); SMS/LMS and AlimTalk batched by shared fields (≤ 500)."""
        groups: list[list[Message]] = []
        same: dict[tuple[Any, ...], list[Message]] = {}
        for m in messages:
            if m.type is MessageType.MMS:
                groups.append([m])
            elif m.type is MessageType.ALIMTALK:
                key = ("AT", m.template_id, m.sender, m.scheduled_at, m.failover_mode)
                same.setdefault(key, []).append(m)
            elif m.type is MessageType.FRIENDTALK:  # the image is one per request
                same.setdefault(("FT", m.sender, m.scheduled_at, m.image), []).append(m)
            else:
                same.setdefault((m.type, m.sender, m.subject, m.scheduled_at), []).append(m)
        for batch in same.values():
            groups.extend(chunks(batch, min(self.max_batch, MASS_LIMIT)))
        return groups

    def _request(self, group: Sequence[Message], masked: bool) -> Req:
        first = group[0]
        sender = first.sender or self.config.default_from
        if first.type is MessageType.FRIENDTALK:
            return build._build_friendtalk_request(
                group,
                base_url=self.kakao_url,
                creds=self._kakao_creds(masked),
                sender=sender,
                test_mode=self.config.test_mode,
                image=read_image(first) if first.image else None,
            )
        if first.type is MessageType.ALIMTALK:
            if not first.template_id:
                raise InvalidRequest(
                    f"{self.id}: ALIMTALK needs a template id", provider_id=self.id
                )
            if any(not m.text.strip() for m in group):
                # message_N must be the rendered template text: never send an empty body
                # (docs/providers.md#aligo-sending)
                raise InvalidRequest(
                    f"{self.id}: ALIMTALK needs the approved template text (--text)",
                    provider_id=self.id,
                    hint="pass --text with the approved template text",
                )
            return build._build_alimtalk_request(
                group,
                base_url=self.kakao_url,
                creds=self._kakao_creds(masked),
                sender=sender,
                test_mode=self.config.test_mode,
            )
        if not sender:
            raise ConfigError(
                f"providers.{self.id}.default_from is not set and the message has no sender"
            )
        image = read_image(first) if first.type is MessageType.MMS else None
        return build._build_sms_request(
            group,
            base_url=self.sms_url,
            creds=self._sms_creds(masked),
            sender=sender,
            test_mode=self.config.test_mode,
            image=image,
        )

    def _send_group(self, group: Sequence[Message]) -> list[SendResult]:
        parse: Callable[[Any], list[SendResult]]
        if group[0].type in build.KAKAO_TYPES:  # one envelope: code 0 and info.mid

            def parse(body: Any) -> list[SendResult]:
                return build._parse_alimtalk_response(body, group, self.id)
        else:

            def parse(body: Any) -> list[SendResult]:
                return build._parse_sms_response(body, group, self.id)

        return list(self._call(self._request(group, False), send=True, parse=parse))

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        return in_order(messages, run_calls(self._groups(messages), self._send_group))

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        docs = [self._request(group, True).preview(self.id) for group in self._groups(messages)]
        if self.config.test_mode:
            for doc in docs:
                doc["note"] = "test mode: accepted by Aligo but never delivered"
        return docs

    # ----------------------------------------------------------------- status, balance, cancel

    def _status_one(self, q: StatusQuery) -> StatusReport:
        if not q.provider_message_id:
            return StatusReport(q.message_id, None, message="no mid: cannot look it up")
        kakao = q.type in build.KAKAO_TYPES
        req = build._build_status_request(
            q,
            base_url=self.sms_url,
            kakao_url=self.kakao_url,
            sms=None if kakao else self._sms_creds(),
            kakao=self._kakao_creds() if kakao else None,
        )
        return self._call(
            req, send=False, parse=lambda body: build._parse_status_response(body, q, self.id)
        )

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        return [self._status_one(q) for q in queries]

    def balance(self) -> Balance:
        creds = self._sms_creds()
        req = Req(
            "POST",
            join_url(self.sms_url, "/remain/"),
            data={"key": creds.key, "user_id": creds.user_id},
        )
        amount, detail = self._call(
            req, send=False, parse=lambda body: build._parse_remain(body, self.id)
        )
        return Balance(amount, "messages", detail)

    def cancel(self, group_id: str) -> None:
        """``group_id`` is ``sms:<mid>`` or ``kakao:<mid>`` as returned by ``send``."""
        channel, _, mid = group_id.rpartition(":")
        if channel == "kakao":
            data = self._kakao_creds().fields() | {"mid": mid}
            req = Req("POST", join_url(self.kakao_url, "/akv10/cancel/"), data=data)

            def check(body: Any) -> None:
                code = int_code(body.get("code")) if isinstance(body, dict) else None
                if code != build.KAKAO_OK:
                    raise build.kakao_error(code, _message(body), send=False, provider_id=self.id)
        else:
            creds = self._sms_creds()
            req = Req(
                "POST",
                join_url(self.sms_url, "/cancel/"),
                data={"key": creds.key, "user_id": creds.user_id, "mid": mid},
            )

            def check(body: Any) -> None:
                code = int_code(body.get("result_code")) if isinstance(body, dict) else None
                if code != build.SMS_OK:
                    raise build.sms_error(code, _message(body), send=False, provider_id=self.id)

        self._call(req, send=False, parse=check)

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        return None  # no id of ours travels with an Aligo message, so absence proves nothing

    def check(self) -> None:
        self.balance()

    # ----------------------------------------------------------------- templates

    def templates(self) -> list[Template]:
        req = tpl._build_templates_request(self.kakao_url, self._kakao_creds())
        return list(self._call(req, send=False, parse=lambda b: tpl._parse_templates(b, self.id)))

    def template(self, code: str) -> Template | None:
        req = tpl._build_templates_request(self.kakao_url, self._kakao_creds(), code)
        found = self._call(req, send=False, parse=lambda b: tpl._parse_templates(b, self.id))
        return next((t for t in found if t.code == code), None)

    def manage_template(
        self, op: str, code: str, spec: TemplateSpec | None, *, dry_run: bool
    ) -> TemplateChange:
        req = tpl._build_admin_request(self.kakao_url, self._kakao_creds(dry_run), op, code, spec)
        if dry_run:
            return TemplateChange(op, code, request=req.preview(self.id))
        return self._call(req, send=True, parse=lambda b: tpl._parse_admin(b, op, code, self.id))

    def channel(self) -> ChannelState:
        req = tpl._build_channel_request(self.kakao_url, self._kakao_creds())
        return self._call(req, send=False, parse=lambda b: tpl._parse_channel(b, self.id))


def _message(body: Any) -> object:
    return body.get("message") if isinstance(body, dict) else None
