"""Shared pieces of the HTTP adapters: lazy secrets, multi-call sends, images, error tables.

Optional capabilities: besides the ``Provider`` port (core/ports.py) an adapter may list its
registered AlimTalk templates (``templates()`` and ``template(code)``, core/templates.py
``TemplateCatalog``) and its registered sender numbers (``senders()``, ``SenderCatalog``). Commands
and the send checks look for them with ``isinstance``; an adapter without them is simply not
checked (docs/providers.md#templates-and-senders)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kmsg_cli.config import ProviderConfig, is_reference, resolve_secret
from kmsg_cli.core.images import image_format
from kmsg_cli.core.models import Button, Message, SendResult, Status
from kmsg_cli.core.templates import Template, status_of
from kmsg_cli.errors import (
    ERROR_CLASSES,
    ConfigError,
    InputFileError,
    ProviderError,
    UnknownOutcome,
)
from kmsg_cli.providers.http import MASK, Transport

# classes a single message's content can cause; the other messages of a send still go out
ROW_CLASSES = frozenset({"invalid", "template_not_found"})
IP_HINT = "register this machine's public IP address in the IWINV console (발신 IP) and retry"


class Secrets:
    """Resolves ``env:`` / ``file:`` references only when a request is really made (CFG-1)."""

    def __init__(self, provider_id: str, config: ProviderConfig, transport: Transport) -> None:
        self.provider_id = provider_id
        self.config = config
        self.transport = transport
        for value in config.secrets().values():  # literals are known now: scrub them already
            if value and not is_reference(value):
                transport.secret(value)

    def literal(self, field: str) -> str | None:
        """The value when written literally in the config (no I/O needed), else None."""
        value = getattr(self.config, field, None)
        return value if isinstance(value, str) and value and not is_reference(value) else None

    def get(self, field: str, *, masked: bool = False) -> str:
        value = getattr(self.config, field, None)
        key = f"providers.{self.provider_id}.{field}"
        if not value:
            raise ConfigError(
                f"{key} is not set", hint=f"add {field} under [providers.{self.provider_id}]"
            )
        if masked:
            return MASK
        return self.transport.secret(resolve_secret(value, key))


def error_for(cls_name: str, message: str, **kw: Any) -> ProviderError:
    """The ProviderError subclass named by an error class (docs/providers.md#error-classes)."""
    cls = ERROR_CLASSES[cls_name]
    return cls(message, **kw)


def run_calls(
    groups: Sequence[Sequence[Message]], call: Callable[[Sequence[Message]], list[SendResult]]
) -> list[SendResult]:
    """Send several provider calls for one ``send``.

    A content error (invalid, template) fails only its own rows. Any other whole-call error stops
    the run: raised as is while nothing has been accepted yet (so a single call behaves like one
    request), else turned into rows so the accepted ones are not lost — the failing call's rows get
    the error's class (status UNKNOWN for an unknown outcome: reconcile, never resend) and the rows
    never attempted FAILED/unavailable ``NOT_ATTEMPTED``."""
    results: list[SendResult] = []
    for index, group in enumerate(groups):
        try:
            results.extend(call(group))
        except ProviderError as err:
            if err.error_class in ROW_CLASSES:
                results.extend(failed_rows(group, err))
                continue
            if not any(r.accepted for r in results):
                raise
            results.extend(failed_rows(group, err))
            rest = [m for g in groups[index + 1 :] for m in g]
            results.extend(
                SendResult(
                    m.message_id,
                    Status.FAILED,
                    code="NOT_ATTEMPTED",
                    error="not attempted: an earlier call of this batch failed",
                    error_class="unavailable",
                )
                for m in rest
            )
            break
    return results


def in_order(messages: Sequence[Message], results: Sequence[SendResult]) -> list[SendResult]:
    """Results in the order of the input messages (calls may have been grouped differently)."""
    by_id = {r.message_id: r for r in results}
    return [by_id[m.message_id] for m in messages]


def failed_rows(group: Sequence[Message], err: ProviderError) -> list[SendResult]:
    status = Status.UNKNOWN if isinstance(err, UnknownOutcome) else Status.FAILED
    code = err.vendor_code or (str(err.http_status) if err.http_status else None)
    return [
        SendResult(m.message_id, status, code=code, error=err.message, error_class=err.error_class)
        for m in group
    ]


def read_image(message: Message) -> tuple[str, bytes, str]:
    """The MMS image as a multipart tuple (name, bytes, content type)."""
    if not message.image:
        raise InputFileError(f"message {message.message_id}: MMS needs an image")
    path = Path(message.image).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read image {path}: {exc.strerror}") from None
    # the bytes say what it is, as core/images.py checked them; the name may not
    ctype = {"PNG": "image/png", "GIF": "image/gif"}.get(image_format(data) or "", "image/jpeg")
    return path.name, data, ctype


def chunks(items: Sequence[Message], size: int) -> list[list[Message]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def as_str(value: object) -> str:
    return "" if value is None else str(value)


def template_from(
    item: dict[str, Any],
    statuses: Mapping[str, str],
    *,
    code: str,
    name: str,
    status: str,
    body: str,
    button_name: str,
    button_type: str,
) -> Template:
    """A provider's template as kmsg knows it, from its own key names (every provider names the
    four button links alike: linkMo, linkPc, linkIos, linkAnd)."""
    buttons = item.get("buttons")
    return Template(
        code=as_str(item.get(code)),
        name=as_str(item.get(name)),
        status=status_of(item.get(status), statuses),
        body=as_str(item.get(body)),
        buttons=tuple(
            Button(
                name=as_str(b.get(button_name)),
                type=as_str(b.get(button_type)),
                link_mo=as_str(b.get("linkMo")),
                link_pc=as_str(b.get("linkPc")),
                link_ios=as_str(b.get("linkIos")),
                link_and=as_str(b.get("linkAnd")),
            )
            for b in (buttons if isinstance(buttons, list) else [])
            if isinstance(b, dict)
        ),
        raw_status=as_str(item.get(status)),
    )


def int_code(value: object) -> int | None:
    """Vendor codes arrive as int or str (Aligo ``"1"`` vs ``1``): compare after ``int(str(x))``."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
