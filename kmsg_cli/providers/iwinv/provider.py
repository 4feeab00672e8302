"""The IWINV provider: sends through the pure builders in ``build`` and the shared Transport."""

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
from kmsg_cli.core.templates import Template, TemplateChange, TemplateSpec
from kmsg_cli.errors import ConfigError, InvalidRequest, TemplateNotFound
from kmsg_cli.providers.base import Secrets, chunks, in_order, read_image, run_calls
from kmsg_cli.providers.http import MASK, Req, Transport
from kmsg_cli.providers.http_outcomes import json_body
from kmsg_cli.providers.iwinv import PLUGIN, build, codes
from kmsg_cli.providers.iwinv import templates as tpl
from kmsg_cli.providers.plugin import Adapter, Deps

SMS_MAX_RECIPIENTS = 1000


class IwinvProvider(Adapter):
    plugin = PLUGIN
    template_ops = PLUGIN.capabilities.template_admin
    # codes that mean "still in progress"; extend after observing live answers
    # (docs/providers.md#iwinv-delivery-status)
    alimtalk_pending = codes.ALIMTALK_PENDING
    sms_pending = codes.SMS_PENDING

    def __init__(self, provider_id: str, config: ProviderConfig, deps: Deps) -> None:
        super().__init__(provider_id, config, deps)
        self.alimtalk_url = config.base_url or build.ALIMTALK_URL
        # one fake server can stand in for both hosts when only base_url is set (CFG-10)
        self.sms_url = config.sms_base_url or config.base_url or build.SMS_URL
        self.transport = Transport(
            provider_id,
            deps.http,
            deps.clock,
            timeout_seconds=config.timeout_seconds,
            rate_per_second=config.rate_per_second,
        )
        self.secrets = Secrets(provider_id, config, self.transport)
        # the derived header values are secrets too; literal keys let us know them up front
        if key := self.secrets.literal("api_key"):
            self.transport.secret(build.alimtalk_auth(key))
        sms_key, sms_auth = (
            self.secrets.literal("sms_api_key"),
            self.secrets.literal("sms_auth_key"),
        )
        if sms_key and sms_auth:
            self.transport.secret(build.sms_secret(sms_key, sms_auth))
        self._templates: dict[str, Template | None] = {}

    @property
    def clock_offset_ms(self) -> int | None:
        """IWINV's clock minus ours (ms) by the latest response's Date; None before any."""
        return self.transport.clock_offset_ms

    # ----------------------------------------------------------------- credentials

    def _auth(self, masked: bool = False) -> str:
        if masked:
            self.secrets.get("api_key", masked=True)  # still says which key is missing
            return MASK
        return self.transport.secret(build.alimtalk_auth(self.secrets.get("api_key")))

    def _secret(self, masked: bool = False) -> str:
        if masked:
            self.secrets.get("sms_api_key", masked=True)
            self.secrets.get("sms_auth_key", masked=True)
            return MASK
        key, auth = self.secrets.get("sms_api_key"), self.secrets.get("sms_auth_key")
        return self.transport.secret(build.sms_secret(key, auth))

    def _call(self, req: Req, *, send: bool, parse: Callable[[Any], Any]) -> Any:
        def parse_response(response: httpx.Response) -> Any:
            return parse(json_body(response, send=send, provider_id=self.id))

        return self.transport.call(req, send=send, parse=parse_response)

    # ----------------------------------------------------------------- send

    def _groups(self, messages: Sequence[Message]) -> list[list[Message]]:
        """AlimTalk and MMS one per call; SMS/LMS batched by identical content (≤ 1000 numbers)."""
        groups: list[list[Message]] = []
        same: dict[tuple[Any, ...], list[Message]] = {}
        for m in messages:
            if m.type in (MessageType.ALIMTALK, MessageType.MMS):
                groups.append([m])
            else:
                key = (m.type, m.sender, m.text, m.subject, m.scheduled_at)
                same.setdefault(key, []).append(m)
        for batch in same.values():
            groups.extend(chunks(batch, min(self.max_batch, SMS_MAX_RECIPIENTS)))
        return groups

    def _template_order(self, template_code: str) -> list[str]:
        found = self.template(template_code)
        if found is None:
            raise TemplateNotFound(
                f"{self.id}: template {template_code!r} not found", provider_id=self.id
            )
        return list(found.variables)

    def _checked(self, body: Any) -> Any:
        code, text = codes.body_code(body, "code")
        if code is not None and code != codes.ALIMTALK_OK:
            raise codes.alimtalk_error(code, text, send=False, provider_id=self.id)
        return body

    # ----------------------------------------------------------------- templates

    def template(self, code: str) -> Template | None:
        """The template by ``templateCode``, fetched once per run."""
        if code not in self._templates:
            req = build._build_template_request(self.alimtalk_url, self._auth(), code)
            items = self._call(
                req, send=False, parse=lambda b: tpl._parse_templates(self._checked(b))
            )
            self._templates[code] = next((t for t in items if t.code == code), None)
        return self._templates[code]

    def templates(self) -> list[Template]:
        found: list[Template] = []
        for page in range(1, 1000):
            req = tpl._build_templates_request(self.alimtalk_url, self._auth(), page)
            items = self._call(
                req, send=False, parse=lambda b: tpl._parse_templates(self._checked(b))
            )
            found.extend(items)
            if len(items) < tpl.PAGE:
                break
        return found

    def manage_template(
        self, op: str, code: str, spec: TemplateSpec | None, *, dry_run: bool
    ) -> TemplateChange:
        req = tpl._build_admin_request(self.alimtalk_url, self._auth(dry_run), op, code, spec)
        if dry_run:
            return TemplateChange(op, code, request=req.preview(self.id))
        self._templates.pop(code, None)
        return self._call(
            req, send=True, parse=lambda b: tpl._parse_admin(self._checked(b), op, code)
        )

    def _alimtalk_request(self, m: Message, masked: bool) -> Req:
        if not m.template_id:
            raise InvalidRequest(f"{self.id}: ALIMTALK needs a template id", provider_id=self.id)
        if masked:
            params = list(m.variables.values())
        else:
            params = build.template_params(m, self._template_order(m.template_id), self.id)
        return build._build_alimtalk_request(
            m,
            base_url=self.alimtalk_url,
            auth=self._auth(masked),
            params=params,
            sender=m.sender or self.config.default_from,
        )

    def _sms_request(self, group: Sequence[Message], masked: bool) -> Req:
        image = read_image(group[0]) if group[0].type is MessageType.MMS else None
        sender = group[0].sender or self.config.default_from
        if not sender:
            raise ConfigError(
                f"providers.{self.id}.default_from is not set and the message has no sender"
            )
        return build._build_sms_request(
            group, base_url=self.sms_url, secret=self._secret(masked), sender=sender, image=image
        )

    def _send_group(self, group: Sequence[Message]) -> list[SendResult]:
        if group[0].type is MessageType.ALIMTALK:
            m = group[0]
            result = self._call(
                self._alimtalk_request(m, False),
                send=True,
                parse=lambda body: build._parse_alimtalk_response(body, m, self.id),
            )
            return [result]
        return list(
            self._call(
                self._sms_request(group, False),
                send=True,
                parse=lambda body: build._parse_sms_response(body, group, self.id),
            )
        )

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        return in_order(messages, run_calls(self._groups(messages), self._send_group))

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group in self._groups(messages):
            if group[0].type is MessageType.ALIMTALK:
                code = group[0].template_id or ""
                template = build._build_template_request(self.alimtalk_url, MASK, code)
                out.append(template.preview(self.id))
                doc = self._alimtalk_request(group[0], True).preview(self.id)
                doc["note"] = "templateParam is ordered by the template's variables at send time"
                out.append(doc)
            else:
                out.append(self._sms_request(group, True).preview(self.id))
        return out

    # ----------------------------------------------------------------- status, balance, cancel

    def _status_one(self, q: StatusQuery) -> StatusReport:
        now, offset = self.clock.now_ms(), self.clock_offset_ms
        if q.type is MessageType.ALIMTALK:
            req = build._build_alimtalk_history_request(
                q, base_url=self.alimtalk_url, auth=self._auth(), now_ms=now, offset_ms=offset
            )
            return self._call(
                req,
                send=False,
                parse=lambda body: build._parse_alimtalk_history(
                    body, q, self.id, self.alimtalk_pending, offset
                ),
            )
        if not q.provider_message_id:
            return StatusReport(q.message_id, None, message="no requestNo: cannot look it up")
        company = self.secrets.get("sms_company_id")
        req = build._build_sms_history_request(
            q,
            base_url=self.sms_url,
            secret=self._secret(),
            company_id=company,
            now_ms=now,
            offset_ms=offset,
        )
        return self._call(
            req,
            send=False,
            parse=lambda body: build._parse_sms_history(body, q, self.id, self.sms_pending),
        )

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        return [self._status_one(q) for q in queries]

    def balance(self) -> Balance:
        if self.config.api_key:
            req = build.alimtalk_request(self.alimtalk_url, "/api/charge/", self._auth(), {})
            ok = codes.ALIMTALK_OK
        else:
            req = build.sms_request(
                self.sms_url, "/api/charge/", self._secret(), {"version": "1.0"}
            )
            ok = codes.SMS_OK
        amount = self._call(req, send=False, parse=lambda b: build._parse_charge(b, ok, self.id))
        return Balance(amount, "KRW")

    def cancel(self, group_id: str) -> None:
        """Cancels a reserved AlimTalk by ``seqNo`` (the SMS cancel handle is undocumented)."""
        req = build.alimtalk_request(
            self.alimtalk_url, "/api/cancel/", self._auth(), {"seqNo": group_id}
        )
        self._call(req, send=False, parse=self._cancel_body)

    def _cancel_body(self, body: Any) -> None:
        code, text = codes.body_code(body, "code")
        if code != codes.ALIMTALK_OK:
            raise codes.alimtalk_error(code, text, send=False, provider_id=self.id)

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        return None  # no id of ours travels with an IWINV message, so absence proves nothing

    def check(self) -> None:
        self.balance()
