"""Aligo AlimTalk templates as pure functions (docs/providers.md#aligo-templates)."""

from __future__ import annotations

from typing import Any

from kmsg_cli.core.templates import Button, Template, status_of
from kmsg_cli.providers.aligo.build import KAKAO_OK, KakaoCreds, kakao_error
from kmsg_cli.providers.base import as_str, int_code
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
    buttons = item.get("buttons")
    return Template(
        code=as_str(item.get("templtCode")),
        name=as_str(item.get("templtName")),
        status=status_of(item.get("inspStatus"), STATUS),
        body=as_str(item.get("templtContent")),
        buttons=tuple(
            Button(
                name=as_str(b.get("name")),
                type=as_str(b.get("linkType")),
                link_mo=as_str(b.get("linkMo")),
                link_pc=as_str(b.get("linkPc")),
                link_ios=as_str(b.get("linkIos")),
                link_and=as_str(b.get("linkAnd")),
            )
            for b in (buttons if isinstance(buttons, list) else [])
            if isinstance(b, dict)
        ),
        raw_status=as_str(item.get("inspStatus")),
    )
