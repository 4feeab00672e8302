"""The SOLAPI provider: sends through the pure builders in ``build`` and the shared Transport."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmsg_cli.config import ProviderConfig
from kmsg_cli.core.models import (
    Balance,
    Message,
    MessageType,
    SendResult,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.templates import ChannelState, Sender, Template, TemplateChange, TemplateSpec
from kmsg_cli.errors import AuthError, InvalidRequest, Unavailable, UnknownOutcome
from kmsg_cli.providers.base import Secrets, as_str, chunks, in_order, read_image, run_calls
from kmsg_cli.providers.http import MASK, Req, Transport, join_url
from kmsg_cli.providers.http_outcomes import json_body
from kmsg_cli.providers.plugin import Adapter, Deps
from kmsg_cli.providers.solapi import PLUGIN
from kmsg_cli.providers.solapi import templates as tpl
from kmsg_cli.providers.solapi.build import (
    BASE_URL,
    UPLOAD_TYPE,
    SolapiAuth,
    _build_send_request,
    _build_upload_request,
    _parse_balance,
    _parse_send_response,
    describe_error,
)
from kmsg_cli.providers.solapi.lookup import (
    STATUS_CHUNK,
    _build_received_request,
    _build_status_request,
    _parse_received_page,
    _parse_status_response,
)


class SolapiProvider(Adapter):
    plugin = PLUGIN
    template_ops = PLUGIN.capabilities.template_admin

    def __init__(self, provider_id: str, config: ProviderConfig, deps: Deps) -> None:
        super().__init__(provider_id, config, deps)
        self.base_url = config.base_url or BASE_URL
        self.transport = Transport(
            provider_id,
            deps.http,
            deps.clock,
            timeout_seconds=config.timeout_seconds,
            rate_per_second=config.rate_per_second,
            describe=describe_error,
        )
        self.secrets = Secrets(provider_id, config, self.transport)
        self._auth: SolapiAuth | None = None
        self._uploaded: dict[str, str] = {}

    @property
    def clock_offset_ms(self) -> int | None:
        """SOLAPI's clock minus ours (ms) by the latest response's Date; None before any."""
        return self.transport.clock_offset_ms

    def auth(self) -> SolapiAuth:
        if self._auth is None:
            key, secret = self.secrets.get("api_key"), self.secrets.get("api_secret")
            self._auth = SolapiAuth(key, secret, self.clock)
        return self._auth

    def _pf_id(self, messages: Sequence[Message], masked: bool) -> str | None:
        if not any(m.type in (MessageType.ALIMTALK, MessageType.BRAND) for m in messages):
            return None
        return self.secrets.get("kakao_pf_id", masked=masked)

    def _groups(self, messages: Sequence[Message]) -> list[list[Message]]:
        by_time: dict[int | None, list[Message]] = {}
        for m in messages:
            by_time.setdefault(m.scheduled_at, []).append(m)
        return [c for group in by_time.values() for c in chunks(group, self.max_batch)]

    def _call(self, req: Req, *, send: bool) -> Any:
        try:
            return self.transport.call(
                req, send=send, parse=lambda r: json_body(r, send=send, provider_id=self.id)
            )
        except AuthError as err:
            if err.vendor_code == "RequestTimeTooSkewed":
                err.hint = "the system clock is off by more than 15 minutes: sync it (NTP)"
            raise

    def _upload(self, m: Message) -> str:
        kind = UPLOAD_TYPE[m.type]
        path = f"{kind}:{m.image or ''}"
        if path not in self._uploaded:
            name, data, _ = read_image(m)
            req = _build_upload_request(
                name, data, base_url=self.base_url, auth=self.auth(), kind=kind
            )
            body = self._call(req, send=False)
            file_id = as_str(body.get("fileId")) if isinstance(body, dict) else ""
            if not file_id:
                raise UnknownOutcome(
                    "solapi: image upload answered without fileId", provider_id=self.id
                )
            self._uploaded[path] = file_id
        return self._uploaded[path]

    def _send_group(self, group: Sequence[Message]) -> list[SendResult]:
        image_ids = {m.message_id: self._upload(m) for m in group if m.image}
        req = _build_send_request(
            group,
            base_url=self.base_url,
            default_from=self.config.default_from,
            pf_id=self._pf_id(group, False),
            image_ids=image_ids,
            auth=self.auth(),
        )
        body = self._call(req, send=True)
        return _parse_send_response(body, group, self.id)

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        return in_order(messages, run_calls(self._groups(messages), self._send_group))

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group in self._groups(messages):
            image_ids: dict[str, str] = {}
            for m in group:
                if m.image:
                    name, data, _ = read_image(m)
                    upload = _build_upload_request(
                        name, data, base_url=self.base_url, auth=None, kind=UPLOAD_TYPE[m.type]
                    )
                    doc = upload.preview(self.id)
                    doc["headers"]["Authorization"] = MASK
                    doc["body"]["file"] = f"<base64 of {name}, {len(data)} bytes>"
                    out.append(doc)
                    image_ids[m.message_id] = "<fileId from the upload>"
            req = _build_send_request(
                group,
                base_url=self.base_url,
                default_from=self.config.default_from,
                pf_id=self._pf_id(group, True),
                image_ids=image_ids,
                auth=None,
            )
            doc = req.preview(self.id)
            doc["headers"]["Authorization"] = MASK
            out.append(doc)
        return out

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        reports: dict[str, StatusReport] = {}
        with_id = [q for q in queries if q.provider_message_id]
        batches: list[list[StatusQuery]] = [
            with_id[i : i + STATUS_CHUNK] for i in range(0, len(with_id), STATUS_CHUNK)
        ]
        by_group: dict[str, list[StatusQuery]] = {}
        for q in queries:
            if not q.provider_message_id and q.group_id:
                by_group.setdefault(q.group_id, []).append(q)
        batches.extend(by_group.values())
        batches.extend([q] for q in queries if not q.provider_message_id and not q.group_id)
        for batch in batches:
            req = _build_status_request(
                batch, base_url=self.base_url, auth=self.auth(), offset_ms=self.clock_offset_ms
            )
            for report in _parse_status_response(self._call(req, send=False), batch):
                reports[report.message_id] = report
        return [reports[q.message_id] for q in queries]

    def balance(self) -> Balance:
        req = Req("GET", join_url(self.base_url, "/cash/v1/balance"), auth=self.auth())
        return _parse_balance(self._call(req, send=False), self.id)

    def cancel(self, group_id: str) -> None:
        url = join_url(self.base_url, f"/messages/v4/groups/{group_id}/schedule")
        self.transport.call(Req("DELETE", url, auth=self.auth()), send=False, parse=lambda r: None)

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        """Finds our messages by ``customFields.kmsgId`` among those SOLAPI created since
        ``since_ms``. Stops once all are found; otherwise reads every page, so an id still missing
        was never created there (NET-3: reconcile, never resend blindly)."""
        found: dict[str, SendResult] = {}
        wanted = {m.message_id for m in messages}
        key: str | None = None
        seen: set[str] = set()
        offset = self.clock_offset_ms  # one window for every page, whatever the pages' Dates say
        while len(found) < len(wanted):
            req = _build_received_request(
                since_ms, base_url=self.base_url, auth=self.auth(), start_key=key, offset_ms=offset
            )
            rows, key = _parse_received_page(self._call(req, send=False), wanted, self.id)
            for row in rows:  # the same id twice: an accepted row proves more than a rejected one
                if row.message_id not in found or not found[row.message_id].accepted:
                    found[row.message_id] = row
            if key is None:
                break
            if key in seen:
                raise Unavailable(f"{self.id}: message list paging repeats", provider_id=self.id)
            seen.add(key)
        return found

    def check(self) -> None:
        self.balance()

    # ----------------------------------------------------------------- templates and senders

    def _template_pages(self, code: str | None) -> list[Template]:
        found: list[Template] = []
        key: str | None = None
        seen: set[str] = set()
        while True:
            req = tpl._build_templates_request(self.base_url, self.auth(), code=code, start_key=key)
            page, key = tpl._parse_templates_page(self._call(req, send=False))
            found.extend(page)
            if key is None or key in seen:
                return found
            seen.add(key)

    def templates(self) -> list[Template]:
        return self._template_pages(None)

    def template(self, code: str) -> Template | None:
        return next((t for t in self._template_pages(code) if t.code == code), None)

    def senders(self) -> list[Sender]:
        req = tpl._build_senders_request(self.base_url, self.auth())
        return tpl._parse_senders(self._call(req, send=False))

    def manage_template(
        self, op: str, code: str, spec: TemplateSpec | None, *, dry_run: bool
    ) -> TemplateChange:
        channel = self.secrets.get("kakao_pf_id", masked=dry_run) if op == "create" else ""
        auth = None if dry_run else self.auth()
        req = tpl._build_admin_request(self.base_url, auth, op, code, spec, channel)
        if dry_run:
            doc = req.preview(self.id)
            doc["headers"]["Authorization"] = MASK
            return TemplateChange(op, code, request=doc)
        return tpl._parse_admin(self._call(req, send=True), op, code)

    def channel(self) -> ChannelState:
        """The configured pfId as ``GET /kakao/v2/channels/{id}`` knows it: a 4xx is not found."""
        pf_id = self.secrets.get("kakao_pf_id")
        req = tpl._build_channel_request(self.base_url, self.auth(), pf_id)
        try:
            body = self._call(req, send=False)
        except InvalidRequest as exc:
            return ChannelState(False, f"SOLAPI does not know kakao_pf_id: {exc.message}")
        # the pfId is kept secret (settings.secret_keys): name the channel by its search id
        name = as_str(body.get("searchId")) if isinstance(body, dict) else ""
        return ChannelState(True, f"registered at SOLAPI{f' as {name}' if name else ''}")
