"""SOLAPI AlimTalk templates and sender numbers as pure functions (docs/providers.md#solapi-templates-and-senders)."""

from __future__ import annotations

from typing import Any

from kmsg_cli.core.templates import Button, Sender, Template, status_of
from kmsg_cli.providers.base import as_str
from kmsg_cli.providers.http import Req, join_url

PAGE = 100
STATUS = {
    "APPROVED": "approved",
    "INSPECTING": "inspecting",
    "PENDING": "registered",
    "REJECTED": "rejected",
}


def _build_templates_request(
    base_url: str, auth: Any, *, code: str | None = None, start_key: str | None = None
) -> Req:
    params: dict[str, Any] = {"limit": PAGE}
    if code:
        params["templateId"] = code
    if start_key:
        params["startKey"] = start_key
    return Req("GET", join_url(base_url, "/kakao/v2/templates"), params=params, auth=auth)


def _parse_templates_page(body: Any) -> tuple[list[Template], str | None]:
    """(templates, nextKey) of one page of ``{templateList, nextKey}``."""
    doc = body if isinstance(body, dict) else {}
    items = doc.get("templateList")
    templates = (
        [_template(t) for t in items if isinstance(t, dict)] if isinstance(items, list) else []
    )
    next_key = as_str(doc.get("nextKey")).strip() or None
    return templates, next_key


def _template(item: dict[str, Any]) -> Template:
    buttons = item.get("buttons")
    return Template(
        code=as_str(item.get("templateId")),
        name=as_str(item.get("name")),
        status=status_of(item.get("status"), STATUS),
        body=as_str(item.get("content")),
        buttons=tuple(
            Button(
                name=as_str(b.get("buttonName")),
                type=as_str(b.get("buttonType")),
                link_mo=as_str(b.get("linkMo")),
                link_pc=as_str(b.get("linkPc")),
                link_ios=as_str(b.get("linkIos")),
                link_and=as_str(b.get("linkAnd")),
            )
            for b in (buttons if isinstance(buttons, list) else [])
            if isinstance(b, dict)
        ),
        raw_status=as_str(item.get("status")),
    )


def _build_senders_request(base_url: str, auth: Any) -> Req:
    return Req("GET", join_url(base_url, "/senderid/v1/numbers"), auth=auth)


def _parse_senders(body: Any) -> list[Sender]:
    doc = body if isinstance(body, dict) else {}
    items = doc.get("senderIds")
    return [
        Sender(
            number=as_str(s.get("phoneNumber")),
            active=as_str(s.get("status")).upper() == "ACTIVE",
            status=as_str(s.get("status")),
        )
        for s in (items if isinstance(items, list) else [])
        if isinstance(s, dict) and s.get("phoneNumber")
    ]
