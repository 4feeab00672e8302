"""AlimTalk templates and sender numbers as kmsg sees them, whatever the provider, and the check
every AlimTalk passes before anything is journaled (docs/providers.md#templates-and-senders).

A send is checked against the provider's registered template: from the local cache that
``kmsg templates sync`` fills, else fetched live when the provider can list templates. The
template's status must be approved, every ``#{name}`` it uses needs a value, and the body is
rendered here, so the journal, ``--dry-run`` and providers that substitute nothing (Aligo) all see
the exact text the recipient gets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kmsg_cli.core import content
from kmsg_cli.core.models import Button as Button  # re-exported: the adapters build templates
from kmsg_cli.core.models import Message, MessageType, evolve
from kmsg_cli.errors import InputError

APPROVED = "approved"
# every status a provider's vocabulary maps to
STATUSES = ("approved", "inspecting", "registered", "rejected", "unknown")
_VAR = re.compile(r"#\{([^{}]*)\}")
_LINK_KEYS = ("link_mo", "link_pc", "link_ios", "link_and")


@dataclass(frozen=True)
class Template:
    """One registered AlimTalk template. ``status`` is one of ``STATUSES``; ``raw_status`` is the
    provider's own word for it."""

    code: str
    name: str
    status: str
    body: str
    buttons: tuple[Button, ...] = ()
    raw_status: str = ""

    @functools.cached_property  # a campaign checks one template for every row
    def variables(self) -> tuple[str, ...]:
        """Distinct ``#{name}`` in order of first appearance: the body, then the button links
        (the order IWINV's positional parameters follow)."""
        texts = [self.body]
        for b in self.buttons:
            texts.extend(getattr(b, key) for key in _LINK_KEYS)
        return tuple(dict.fromkeys(n.strip() for t in texts for n in _VAR.findall(t)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "status": self.status,
            "raw_status": self.raw_status,
            "body": self.body,
            "variables": list(self.variables),
            "buttons": [b.__dict__ for b in self.buttons],
        }


@dataclass(frozen=True)
class Sender:
    """A sender number registered with a provider; ``active``: it may send now."""

    number: str
    active: bool = True
    status: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "active": self.active, "status": self.status}


@runtime_checkable
class TemplateCatalog(Protocol):
    """A provider that can list its registered AlimTalk templates."""

    def templates(self) -> list[Template]: ...

    def template(self, code: str) -> Template | None:
        """The template, or None when the provider has none by that code."""
        ...


@runtime_checkable
class SenderCatalog(Protocol):
    """A provider that can list its registered sender numbers."""

    def senders(self) -> list[Sender]: ...


# what `kmsg templates create|update|delete|request` ask of a provider (TemplateAdmin)
TEMPLATE_OPS = ("create", "update", "delete", "request")
_SPEC_KEYS = {"name", "body", "category", "buttons"}
_BUTTON_KEYS = {"name", "type", *_LINK_KEYS}


@dataclass(frozen=True)
class TemplateSpec:
    """A template as a user writes it in ``templates create|update --file``: its name, body with
    ``#{name}`` placeholders, buttons, and the provider's category code where it has one."""

    name: str
    body: str
    buttons: tuple[Button, ...] = ()
    category: str = ""


@dataclass(frozen=True)
class TemplateChange:
    """What a template operation did (the provider's answer) or, on a dry run, would send."""

    op: str
    code: str  # the template code; "" for a create not yet made (dry run)
    status: str = ""  # normalized, when the provider's answer tells
    request: dict[str, Any] | None = None  # dry run: the request, secrets masked

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"op": self.op, "code": self.code or None}
        if self.status:
            doc["status"] = self.status
        if self.request is not None:
            doc["request"] = self.request
        return doc


@runtime_checkable
class TemplateAdmin(Protocol):
    """A provider that can change its registered templates. ``template_ops`` holds the operations
    of ``TEMPLATE_OPS`` its API has; ``dry_run`` returns the request without sending it."""

    template_ops: frozenset[str]

    def manage_template(
        self, op: str, code: str, spec: TemplateSpec | None, *, dry_run: bool
    ) -> TemplateChange: ...


@dataclass(frozen=True)
class ChannelState:
    """The Kakao channel (SOLAPI pfId, Aligo sender key) as its provider knows it."""

    registered: bool
    detail: str = ""


@runtime_checkable
class ChannelCheck(Protocol):
    """A provider that can tell whether its configured Kakao channel is registered there."""

    def channel(self) -> ChannelState: ...


def parse_spec(doc: object, where: str) -> TemplateSpec:
    """A ``TemplateSpec`` from a parsed JSON/TOML document; anything else is InputError (65)
    naming the key."""
    if not isinstance(doc, dict):
        raise InputError(f"{where}: a template file holds one table/object")
    unknown = sorted(set(doc) - _SPEC_KEYS)
    if unknown:
        raise InputError(
            f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(_SPEC_KEYS))})"
        )
    name, body, category = doc.get("name"), doc.get("body"), doc.get("category", "")
    for key, value in (("name", name), ("body", body)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}: {key} is required (a non-empty string)")
    if not isinstance(category, str):
        raise InputError(f"{where}: category must be a string")
    assert isinstance(name, str) and isinstance(body, str)
    if len(body) > content.ALIMTALK_MAX_CHARS:
        raise InputError(
            f"{where}: body is {len(body)} characters; the limit is {content.ALIMTALK_MAX_CHARS}"
        )
    raw = doc.get("buttons", [])
    if not isinstance(raw, list):
        raise InputError(f"{where}: buttons must be a list")
    buttons = []
    for n, b in enumerate(raw, start=1):
        if not isinstance(b, dict) or not all(isinstance(v, str) for v in b.values()):
            raise InputError(f"{where}: button {n} must be a table of strings")
        extra = sorted(set(b) - _BUTTON_KEYS)
        if extra:
            raise InputError(f"{where}: button {n} has unknown key {extra[0]!r}")
        if not b.get("name") or not b.get("type"):
            raise InputError(f"{where}: button {n} needs a name and a type")
        buttons.append(Button(**b))
    return TemplateSpec(name.strip(), content.normalize_text(body), tuple(buttons), category)


class TemplateCache(Protocol):
    """The part of the store the checks read (kmsg_cli.store.Store satisfies it)."""

    def cached_template(self, provider_id: str, code: str) -> Template | None: ...

    def cached_senders(self, provider_id: str) -> list[Sender] | None: ...


def status_of(raw: object, table: Mapping[str, str]) -> str:
    return table.get(str(raw or "").strip().upper(), "unknown")


@dataclass
class Lookup:
    """Templates and senders for the checks: the cache first, else the provider itself (templates
    only), each asked once per run however many rows a campaign has."""

    store: Callable[[], TemplateCache | None]  # None: no database yet, so nothing cached
    provider: Callable[[str], object]
    _templates: dict[tuple[str, str], Template | None] = field(default_factory=dict)
    _senders: dict[str, list[Sender] | None] = field(default_factory=dict)

    def template(self, provider_id: str, code: str) -> Template | None:
        """The registered template; None when nothing can tell (the provider lists none). A
        provider that lists templates and has none by that code: InputError (65)."""
        key = (provider_id, code)
        if key not in self._templates:
            cache = self.store()
            found = cache.cached_template(provider_id, code) if cache is not None else None
            if found is None:
                provider = self.provider(provider_id)
                if isinstance(provider, TemplateCatalog):
                    found = provider.template(code)
                    if found is None:
                        raise InputError(
                            f"template {code!r} is not registered with provider {provider_id!r}",
                            hint=f"see `kmsg templates list --provider {provider_id}`",
                        )
            self._templates[key] = found
        return self._templates[key]

    def senders(self, provider_id: str) -> list[Sender] | None:
        """The cached registered senders, or None when they are not known."""
        if provider_id not in self._senders:
            cache = self.store()
            self._senders[provider_id] = cache.cached_senders(provider_id) if cache else None
        return self._senders[provider_id]


def apply(message: Message, template: Template | None, provider_id: str) -> Message:
    """``message`` checked against its registered template, with the body rendered: an
    unapproved template or a missing variable is InputError (65); a ``--text`` other than the
    rendered template too (the provider would refuse it)."""
    if template is None or message.type is not MessageType.ALIMTALK:
        return message
    where = f"template {template.code!r} on {provider_id!r}"
    if template.status != APPROVED:
        raise InputError(
            f"{where} is {template.status} ({template.raw_status or '-'}), not approved: "
            "it cannot be sent",
            hint="wait for the inspection, then `kmsg templates sync`",
        )
    values = {k.strip(): v for k, v in message.variables.items()}
    missing = [n for n in template.variables if n not in values]
    if missing:
        raise InputError(
            f"{where} needs #{{{missing[0]}}}: no value for {', '.join(missing)}",
            hint="pass --var NAME=VALUE (a CSV column in send-bulk) for each",
        )
    body = _VAR.sub(lambda m: values[m.group(1).strip()], template.body)
    if len(body) > content.ALIMTALK_MAX_CHARS:
        raise InputError(
            f"AlimTalk text is {len(body)} characters after substitution; "
            f"the limit is {content.ALIMTALK_MAX_CHARS}"
        )
    given = message.text
    if given.strip() and content.normalize_text(given) != content.normalize_text(body):
        raise InputError(
            f"--text differs from the registered {where}",
            hint="omit --text: kmsg renders the registered template",
        )
    return evolve(message, text=body)


def unknown_variables(names: Iterable[str], template: Template | None) -> None:
    """Refuse a ``--var`` the template does not use (a typo would otherwise pass silently)."""
    if template is None:
        return
    extra = [n.strip() for n in names if n.strip() not in template.variables]
    if extra:
        known = ", ".join(template.variables) or "none"
        raise InputError(
            f"template {template.code!r} has no variable {extra[0]!r} (its variables: {known})",
            hint="drop the --var or fix its name",
        )


def check_sender(number: str | None, registered: Sequence[Sender] | None, provider_id: str) -> None:
    """Refuse a sender the provider's registered list (as last synced) does not hold as active;
    an unknown list checks nothing (docs/providers.md#templates-and-senders)."""
    if not number or registered is None:
        return
    found = next((s for s in registered if s.number == number), None)
    hint = (
        "register the number with the provider (발신번호 사전등록) or pick another --from, "
        "then `kmsg templates sync`"
    )
    if found is None:
        raise InputError(
            f"sender {number} is not registered with provider {provider_id!r}", hint=hint
        )
    if not found.active:
        raise InputError(
            f"sender {number} is {found.status or 'inactive'} at provider {provider_id!r}, "
            "not active",
            hint=hint,
        )
