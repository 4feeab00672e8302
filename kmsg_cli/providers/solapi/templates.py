"""SOLAPI AlimTalk templates and sender numbers as pure functions (docs/providers.md#solapi-templates-and-senders)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kmsg_cli.core.templates import (
    Sender,
    Template,
    TemplateChange,
    TemplateSpec,
)
from kmsg_cli.providers.base import as_str, template_from
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
    return template_from(
        item,
        STATUS,
        code="templateId",
        name="name",
        status="status",
        body="content",
        button_name="buttonName",
        button_type="buttonType",
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


# ----------------------------------------------------------------------- template administration


def _spec_body(spec: TemplateSpec) -> dict[str, Any]:
    body: dict[str, Any] = {"name": spec.name, "content": spec.body}
    if spec.category:
        body["categoryCode"] = spec.category
    body["buttons"] = [
        {
            k: v
            for k, v in (
                ("buttonName", b.name),
                ("buttonType", b.type),
                ("linkMo", b.link_mo),
                ("linkPc", b.link_pc),
                ("linkAnd", b.link_and),
                ("linkIos", b.link_ios),
            )
            if v
        }
        for b in spec.buttons
    ]
    return body


def _build_admin_request(
    base_url: str, auth: Any, op: str, code: str, spec: TemplateSpec | None, channel_id: str
) -> Req:
    """create: ``POST /kakao/v2/templates`` with the channel; update: ``PUT .../{id}``; delete:
    ``DELETE .../{id}``; request: ``PUT .../{id}/inspection``
    (docs/providers.md#template-administration)."""
    path = f"/kakao/v2/templates/{quote(code, safe='')}"
    if op == "create":
        assert spec is not None
        body = {"channelId": channel_id} | _spec_body(spec)
        return Req("POST", join_url(base_url, "/kakao/v2/templates"), json=body, auth=auth)
    if op == "update":
        assert spec is not None
        return Req("PUT", join_url(base_url, path), json=_spec_body(spec), auth=auth)
    if op == "delete":
        return Req("DELETE", join_url(base_url, path), auth=auth)
    return Req("PUT", join_url(base_url, path + "/inspection"), auth=auth)


def _parse_admin(body: Any, op: str, code: str) -> TemplateChange:
    """The answer is the template object (SOLAPI's shape); an answer without one still succeeded."""
    doc = body if isinstance(body, dict) else {}
    if doc.get("templateId"):
        t = _template(doc)
        return TemplateChange(op, t.code, t.status)
    return TemplateChange(op, code)


def _build_channel_request(base_url: str, auth: Any, channel_id: str) -> Req:
    return Req(
        "GET", join_url(base_url, f"/kakao/v2/channels/{quote(channel_id, safe='')}"), auth=auth
    )
