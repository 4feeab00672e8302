"""KakaoTalk buttons: the ``--button`` syntax (also a send-bulk ``buttons`` cell), the limits every
provider shares, and an AlimTalk's buttons checked against its registered template
(docs/providers.md#buttons).

One button is ``TYPE:NAME[:LINKS]`` or a JSON object; several are separated by ``|`` or given as a
JSON array:

- ``WL:주문 보기:https://m.example.com[,https://www.example.com]`` web link: mobile[,PC]
- ``AL:앱 열기:ANDROID_URI,IOS_URI`` app link
- ``AC:채널 추가``, ``BK:문의하기``, ``MD:상담``, ``DS:배송 조회`` ... no links
- ``{"type": "AL", "name": "앱", "link_mo": "...", "link_and": "...", "link_ios": "..."}``
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kmsg_cli.core.models import BUTTON_TYPES, Button, Message, MessageType, evolve
from kmsg_cli.errors import InputError

MAX_BUTTONS = 5
NAME_MAX_CHARS = 14
URL_MAX_CHARS = 100
# Kakao link types; DS (delivery tracking) belongs to AlimTalk, BF (business form) to brand messages
LINK_TYPES = frozenset({"WL", "AL", "DS", "BK", "MD", "AC", "BC", "BT", "BF"})
_NOT_FOR = {MessageType.ALIMTALK: {"BF"}, MessageType.BRAND: {"DS"}, MessageType.FRIENDTALK: {"DS"}}
# JSON keys: kmsg's own, and the providers' spellings, so a template's buttons can be pasted
_KEYS = {
    "type": "type",
    "linkType": "type",
    "buttonType": "type",
    "name": "name",
    "buttonName": "name",
    "link_mo": "link_mo",
    "linkMo": "link_mo",
    "linkMobile": "link_mo",
    "link_pc": "link_pc",
    "linkPc": "link_pc",
    "link_ios": "link_ios",
    "linkIos": "link_ios",
    "link_and": "link_and",
    "linkAnd": "link_and",
    "linkAndroid": "link_and",
}
_VAR = re.compile(r"#\{([^{}]*)\}")
HINT = "e.g. --button 'WL:주문 보기:https://m.example.com' (docs: README, Brand messages)"


def parse(specs: Iterable[str]) -> tuple[Button, ...]:
    """Every ``--button`` (or a ``buttons`` cell), in order. InputError (65) names the bad one."""
    found: list[Button] = []
    for spec in specs:
        text = spec.strip()
        if not text:
            continue
        if text.startswith(("{", "[")):
            found.extend(_from_json(text))
        else:
            found.extend(_compact(part.strip()) for part in text.split("|") if part.strip())
    return tuple(found)


def _from_json(text: str) -> list[Button]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"button {text[:40]!r} is not valid JSON: {exc.msg}", hint=HINT) from None
    items = loaded if isinstance(loaded, list) else [loaded]
    return [_from_mapping(item) for item in items]


def _from_mapping(item: Any) -> Button:
    if not isinstance(item, Mapping):
        raise InputError(f"a button must be a JSON object, not {json.dumps(item)}", hint=HINT)
    fields: dict[str, str] = {}
    for key, value in item.items():
        if key not in _KEYS:
            known = ", ".join(
                sorted({"type", "name", "link_mo", "link_pc", "link_ios", "link_and"})
            )
            raise InputError(f"button key {key!r} is unknown (keys: {known})", hint=HINT)
        if not isinstance(value, str):
            raise InputError(f"button {key!r} must be text, not {json.dumps(value)}", hint=HINT)
        fields[_KEYS[key]] = value.strip()
    return Button(
        name=fields.get("name", ""),
        type=fields.get("type", "").upper(),
        link_mo=fields.get("link_mo", ""),
        link_pc=fields.get("link_pc", ""),
        link_ios=fields.get("link_ios", ""),
        link_and=fields.get("link_and", ""),
    )


def _compact(text: str) -> Button:
    kind, sep, rest = text.partition(":")
    name, _, links = rest.partition(":")
    kind = kind.strip().upper()
    if not sep or kind not in LINK_TYPES:
        raise InputError(
            f"button {text!r}: expected TYPE:NAME[:LINKS] with TYPE one of "
            f"{', '.join(sorted(LINK_TYPES))}",
            hint=HINT,
        )
    parts = [p.strip() for p in links.split(",")] if links.strip() else []
    if kind == "WL" and len(parts) in (1, 2):
        return Button(name.strip(), kind, link_mo=parts[0], link_pc=parts[1] if parts[1:] else "")
    if kind == "AL" and len(parts) == 2:
        return Button(name.strip(), kind, link_and=parts[0], link_ios=parts[1])
    if kind not in ("WL", "AL") and not parts:
        return Button(name.strip(), kind)
    shape = {"WL": "WL:NAME:MOBILE_URL[,PC_URL]", "AL": "AL:NAME:ANDROID_URI,IOS_URI"}
    raise InputError(
        f"button {text!r}: a {kind} button is {shape.get(kind, f'{kind}:NAME (no links)')}",
        hint="or give it as JSON",
    )


def check(buttons: tuple[Button, ...], kind: MessageType) -> None:
    """The limits every provider shares (name, count, links); a type without buttons has none."""
    if not buttons:
        return
    if kind not in BUTTON_TYPES:
        raise InputError(
            f"buttons go with ALIMTALK, BRAND and FRIENDTALK, not {kind.value}",
            hint="drop --button (or the buttons column), or pick one of those types",
        )
    if len(buttons) > MAX_BUTTONS:
        raise InputError(f"{len(buttons)} buttons; a message holds at most {MAX_BUTTONS}")
    for n, b in enumerate(buttons, 1):
        where = f"button {n} ({b.type} {b.name!r})"
        if b.type not in LINK_TYPES or b.type in _NOT_FOR.get(kind, ()):
            allowed = sorted(LINK_TYPES - _NOT_FOR.get(kind, set()))
            raise InputError(
                f"{where}: a {kind.value} button type is one of {', '.join(allowed)}", hint=HINT
            )
        if not b.name and b.type != "AC":
            raise InputError(f"{where}: a button needs a name", hint=HINT)
        if len(b.name) > NAME_MAX_CHARS:
            raise InputError(
                f"{where}: the name is {len(b.name)} characters; the limit is {NAME_MAX_CHARS}"
            )
        if b.type == "WL" and not b.link_mo:
            raise InputError(f"{where}: a web link button needs its mobile URL", hint=HINT)
        if b.type == "AL" and not (b.link_mo or b.link_and or b.link_ios):
            raise InputError(f"{where}: an app link button needs a link", hint=HINT)
        for url in (b.link_mo, b.link_pc):
            if url and not url.startswith(("http://", "https://")):
                raise InputError(f"{where}: {url!r} is not an http(s) URL")
            if len(url) > URL_MAX_CHARS:
                raise InputError(
                    f"{where}: a link is {len(url)} characters; the limit is {URL_MAX_CHARS}"
                )


def against_template(message: Message, registered: tuple[Button, ...], code: str) -> Message:
    """An AlimTalk's buttons must be its template's, in order (type and name; providers refuse
    others, SOLAPI 1052). None given: the registered ones are sent, their ``#{name}`` links
    filled, so every provider gets them in its own wire format."""
    if message.type is not MessageType.ALIMTALK or (not registered and not message.buttons):
        return message
    if not message.buttons:
        return evolve(message, buttons=tuple(_render(b, message.variables) for b in registered))
    listed = "; ".join(f"{b.type}:{b.name}" for b in registered) or "none"
    if len(message.buttons) != len(registered):
        raise InputError(
            f"{len(message.buttons)} buttons given; template {code!r} registers "
            f"{len(registered)} ({listed})",
            hint="give the registered buttons in order, or omit --button to send them as registered",
        )
    for n, (given, own) in enumerate(zip(message.buttons, registered, strict=True), 1):
        if given.type != own.type.upper() or given.name != own.name:
            raise InputError(
                f"button {n} is {given.type}:{given.name}; template {code!r} registers "
                f"{own.type}:{own.name} there (its buttons: {listed})",
                hint="buttons must match the registered ones, in order",
            )
    return message


def _render(b: Button, values: Mapping[str, str]) -> Button:
    def fill(text: str) -> str:
        return _VAR.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text)

    return Button(
        b.name,
        b.type.upper(),
        fill(b.link_mo),
        fill(b.link_pc),
        fill(b.link_ios),
        fill(b.link_and),
    )
