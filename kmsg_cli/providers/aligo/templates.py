"""Aligo AlimTalk templates as pure functions (docs/providers.md#aligo-templates)."""

from __future__ import annotations

import json
from typing import Any

from kmsg_cli.core.templates import (
    Button,
    ChannelState,
    Template,
    TemplateChange,
    TemplateSpec,
    status_of,
)
from kmsg_cli.providers.aligo.build import KAKAO_OK, KakaoCreds, kakao_error
from kmsg_cli.providers.base import as_str, int_code, template_from
from kmsg_cli.providers.http import Req, join_url

STATUS = {"APR": "approved", "REQ": "inspecting", "REG": "registered", "REJ": "rejected"}


def _build_templates_request(kakao_url: str, creds: KakaoCreds, code: str | None = None) -> Req:
    data = creds.fields() | ({"tpl_code": code} if code else {})
    return Req("POST", join_url(kakao_url, "/akv10/template/list/"), data=data)


def _parse_templates(body: Any, provider_id: str) -> list[Template]:
    doc = body if isinstance(body, dict) else {}
    code = int_code(doc.get("code"))
    if code != KAKAO_OK:
        raise kakao_error(code, doc.get("message"), send=False, provider_id=provider_id)
    items = doc.get("list")
    return [_template(t) for t in (items if isinstance(items, list) else []) if isinstance(t, dict)]


def _template(item: dict[str, Any]) -> Template:
    return template_from(
        item,
        STATUS,
        code="templtCode",
        name="templtName",
        status="inspStatus",
        body="templtContent",
        button_name="name",
        button_type="linkType",
    )


# ----------------------------------------------------------------------- template administration

ADMIN_PATHS = {
    "create": "/akv10/template/add/",
    "update": "/akv10/template/modify/",
    "delete": "/akv10/template/del/",
    "request": "/akv10/template/request/",
}


def _build_admin_request(
    kakao_url: str, creds: KakaoCreds, op: str, code: str, spec: TemplateSpec | None
) -> Req:
    """Form posts with the Kakao credentials: ``tpl_name``, ``tpl_content`` and ``tpl_button``
    (``{"button": [...]}`` as JSON) for add/modify, ``tpl_code`` for the others
    (docs/providers.md#template-administration)."""
    data = creds.fields() | ({"tpl_code": code} if op != "create" else {})
    if spec is not None:
        data["tpl_name"] = spec.name
        data["tpl_content"] = spec.body
        if spec.buttons:
            buttons = [_button(b) for b in spec.buttons]
            data["tpl_button"] = json.dumps({"button": buttons}, ensure_ascii=False)
    return Req("POST", join_url(kakao_url, ADMIN_PATHS[op]), data=data)


def _button(b: Button) -> dict[str, str]:
    wire = (
        ("name", b.name),
        ("linkType", b.type),
        ("linkMo", b.link_mo),
        ("linkPc", b.link_pc),
        ("linkIos", b.link_ios),
        ("linkAnd", b.link_and),
    )
    return {k: v for k, v in wire if v}


def _parse_admin(body: Any, op: str, code: str, provider_id: str) -> TemplateChange:
    """``code`` 0 is success; an add names the new template in ``data`` [unverified: the key],
    else the answer's first ``list`` item."""
    doc = body if isinstance(body, dict) else {}
    result = int_code(doc.get("code"))
    if result != KAKAO_OK:
        raise kakao_error(result, doc.get("message"), send=False, provider_id=provider_id)
    data = doc.get("data")
    items = doc.get("list")
    if not isinstance(data, dict):
        data = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    made = as_str(data.get("templtCode"))
    return TemplateChange(
        op,
        made or code,
        status_of(data.get("inspStatus"), STATUS) if data.get("inspStatus") else "",
    )


def _build_channel_request(kakao_url: str, creds: KakaoCreds) -> Req:
    """``/akv10/profile/list/`` with the sender key: the channel, if Aligo knows it."""
    return Req("POST", join_url(kakao_url, "/akv10/profile/list/"), data=creds.fields())


def _parse_channel(body: Any, provider_id: str) -> ChannelState:
    doc = body if isinstance(body, dict) else {}
    result = int_code(doc.get("code"))
    if result != KAKAO_OK:
        raise kakao_error(result, doc.get("message"), send=False, provider_id=provider_id)
    items = doc.get("list")
    found = [i for i in (items if isinstance(items, list) else []) if isinstance(i, dict)]
    if not found:
        return ChannelState(False, "Aligo lists no channel for sender_key")
    name = as_str(found[0].get("uuid") or found[0].get("name"))
    return ChannelState(True, f"registered at Aligo{f' as {name}' if name else ''}")
