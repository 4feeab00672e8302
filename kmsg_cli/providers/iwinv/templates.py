"""IWINV AlimTalk templates as pure functions (docs/providers.md#iwinv-templates)."""

from __future__ import annotations

from typing import Any

from kmsg_cli.core.templates import Button, Template, status_of
from kmsg_cli.providers.base import as_str
from kmsg_cli.providers.http import Req, join_url
from kmsg_cli.providers.iwinv.build import _items, alimtalk_headers

PAGE = 1000  # the largest pageSize IWINV takes
STATUS = {"Y": "approved", "I": "inspecting", "R": "rejected"}


def _build_templates_request(base_url: str, auth: str, page: int) -> Req:
    """Every template, a page at a time; numbers go as strings."""
    body = {"pageNum": str(page), "pageSize": str(PAGE)}
    return Req(
        "POST",
        join_url(base_url, "/api/template/"),
        headers=alimtalk_headers(auth),
        json=body,
        masked_headers=("AUTH",),
    )


def _parse_templates(body: Any) -> list[Template]:
    return [_template(item) for item in _items(body)]


def _template(item: dict[str, Any]) -> Template:
    buttons = item.get("buttons")
    return Template(
        code=as_str(item.get("templateCode")),
        name=as_str(item.get("templateName")),
        status=status_of(item.get("templateStatus"), STATUS),
        body=as_str(item.get("templateContent")),
        buttons=tuple(
            Button(
                name=as_str(b.get("name")),
                type=as_str(b.get("type")),
                link_mo=as_str(b.get("linkMo")),
                link_pc=as_str(b.get("linkPc")),
                link_ios=as_str(b.get("linkIos")),
                link_and=as_str(b.get("linkAnd")),
            )
            for b in (buttons if isinstance(buttons, list) else [])
            if isinstance(b, dict)
        ),
        raw_status=as_str(item.get("templateStatus")),
    )
