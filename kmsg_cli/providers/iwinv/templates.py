"""IWINV AlimTalk templates as pure functions (docs/providers.md#iwinv-templates)."""

from __future__ import annotations

from typing import Any

from kmsg_cli.core.templates import Button, Template, TemplateChange, TemplateSpec
from kmsg_cli.providers.base import as_str, template_from
from kmsg_cli.providers.http import Req
from kmsg_cli.providers.iwinv.build import _items, alimtalk_request

PAGE = 1000  # the largest pageSize IWINV takes
STATUS = {"Y": "approved", "I": "inspecting", "R": "rejected"}


def _build_templates_request(base_url: str, auth: str, page: int) -> Req:
    """Every template, a page at a time; numbers go as strings."""
    body = {"pageNum": str(page), "pageSize": str(PAGE)}
    return alimtalk_request(base_url, "/api/template/", auth, body)


def _parse_templates(body: Any) -> list[Template]:
    return [_template(item) for item in _items(body)]


def _template(item: dict[str, Any]) -> Template:
    return template_from(
        item,
        STATUS,
        code="templateCode",
        name="templateName",
        status="templateStatus",
        body="templateContent",
        button_name="name",
        button_type="type",
    )


# ----------------------------------------------------------------------- template administration

ADMIN_PATHS = {
    "create": "/api/template/add/",
    "update": "/api/template/modify/",
    "delete": "/api/template/delete/",
}


def _build_admin_request(
    base_url: str, auth: str, op: str, code: str, spec: TemplateSpec | None
) -> Req:
    """``/api/template/add/``, ``modify/`` (with ``templateCode``) and ``delete/``; IWINV has no
    inspection call (docs/providers.md#template-administration)."""
    body: dict[str, Any] = {} if op == "create" else {"templateCode": code}
    if spec is not None:
        body["templateName"] = spec.name
        body["templateContent"] = spec.body
        if spec.buttons:
            body["buttons"] = [_button(b) for b in spec.buttons]
    return alimtalk_request(base_url, ADMIN_PATHS[op], auth, body)


def _button(b: Button) -> dict[str, str]:
    wire = (
        ("type", b.type),
        ("name", b.name),
        ("linkMo", b.link_mo),
        ("linkPc", b.link_pc),
        ("linkIos", b.link_ios),
        ("linkAnd", b.link_and),
    )
    return {k: v for k, v in wire if v}


def _parse_admin(body: Any, op: str, code: str) -> TemplateChange:
    """A create answers the new ``templateCode`` (at the top, or under ``data``)."""
    doc = body if isinstance(body, dict) else {}
    data = doc.get("data")
    if not isinstance(data, dict):
        data = {}
    made = as_str(doc.get("templateCode") or data.get("templateCode"))
    return TemplateChange(op, made or code)
