"""One pass over a campaign file, row by row: each row planned once, in its final form.

What is the same for every row (the columns, the compiled template, the sender, the route and
price of each type) is worked out once per pass. The common campaign takes a short way that
builds each Message directly; any other row goes through ``bulk.draft`` and
``service.plan_one`` like a single send (tests/core/test_row_planner.py checks both ways plan
each row alike, row key included).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from kmsg_cli.core import bulk, campaign, content, korea, phone, routing, service, templates
from kmsg_cli.core.bulk import Spec
from kmsg_cli.core.campaign import Item
from kmsg_cli.core.models import Message, MessageType, evolve
from kmsg_cli.core.ports import Env
from kmsg_cli.core.service import Planned
from kmsg_cli.errors import ExitCode, KmsgError


class RowPlanner:
    """Plans the rows of one pass over a campaign file: what is the same for every row (the
    columns, the compiled template, the sender, the route and price of each type) is worked out
    once, and each row's Message is built once, in its final form.

    The common campaign (one --text for every row, SMS/LMS, no per-row type, subject or ad
    column, a route that does not rotate) takes that short way. Anything else, and any row the
    short way finds a problem with, goes through ``bulk.draft`` and ``service.plan_one`` like a
    single send, so a row's checks and error messages are the same whichever way it went."""

    def __init__(
        self,
        header: Sequence[str],
        spec: Spec,
        env: Env,
        campaign_id: str,
        run_id: str,
        *,
        preview: bool,
        keys: bool = True,
        count_only: bool = False,
    ) -> None:
        self.cols = cols = bulk.columns(header, spec)
        self.spec, self.env, self.preview, self.keys = spec, env, preview, keys
        self.count_only = count_only and not keys
        self.campaign_id, self.run_id = campaign_id, run_id
        self.width = len(cols.header)
        self.to_at = cols.header.index(cols.to)
        own = {bulk.TEXT_COLUMN, bulk.TYPE_COLUMN, bulk.SUBJECT_COLUMN, bulk.AD_COLUMN}
        own.add(bulk.BUTTONS_COLUMN)
        self.variables = [(n, i) for i, n in enumerate(cols.header) if n and n not in own]
        self.key_order = sorted(self.variables)  # row_key sorts the variables by name
        self.fast = self._fast_path(spec, env, own)

    def __call__(self, number: int, values: list[str]) -> Item:
        fast = self.fast
        if fast is not None and len(values) == self.width:
            planned = self._quick(number, values, fast)
            if planned is not None:
                return number, values[self.to_at], planned
        return self._general(number, values)

    def _general(self, number: int, values: list[str]) -> Item:
        to = values[self.to_at] if len(values) == self.width else ""
        try:
            to, draft = bulk.draft(values, self.cols, self.spec)
            planned = service.plan_one(draft, to, self.env, preview=self.preview)
            if planned.message.ad:
                korea.check_ad(planned.message)
            return number, to, campaign.prepare(planned, self.campaign_id, number, self.run_id)
        except KmsgError as exc:
            if exc.exit_code != ExitCode.DATAERR:  # a config problem (no route): not the row's
                raise
            return number, to, exc

    # -- the short way ----------------------------------------------------------------------

    def _fast_path(self, spec: Spec, env: Env, own: set[str]) -> _Fast | None:
        cols = self.cols
        if any(
            f.name not in _SHORT_WAY_KNOWS and getattr(spec, f.name) != getattr(_PLAIN, f.name)
            for f in fields(spec)
        ):  # an option the short way does not know about: the long way applies it
            return None
        if (
            cols.text is None
            or spec.template_id is not None
            or own & set(cols.header) - {bulk.TEXT_COLUMN}
        ):
            return None
        if env.routing_strategy == "round_robin":  # the cursor moves per message
            return None
        if not content.valid_utf8("".join(cols.header)):  # the long way names the column
            return None
        try:
            explicit = MessageType.parse(spec.type) if spec.type else None
            sender = phone.sender(spec.sender) if spec.sender else None
        except KmsgError:
            return None
        if explicit not in (None, MessageType.SMS, MessageType.LMS):
            return None
        text = content.normalize_text(cols.text)
        if not text.strip():
            return None
        pieces = content.compile_template(text)
        subject = content.compile_template(spec.subject) if spec.subject is not None else None
        if explicit is MessageType.SMS and subject is not None:
            return None
        names = set(pieces[1::2]) | set(subject[1::2] if subject else ())
        if not names <= {n for n, _ in self.variables}:
            return None
        return _Fast(explicit, sender, pieces, subject, {})

    def _routed(self, fast: _Fast, kind: MessageType) -> tuple[Planned, Message] | None:
        """The Planned and Message every row of this type starts from (None: the long way)."""
        if kind in fast.protos:
            return fast.protos[kind]
        env = self.env
        try:
            ids, reason = routing.route(
                kind,
                explicit=self.spec.provider_id,
                by_type=env.routing_by_type,
                default=env.routing_default,
                strategy=env.routing_strategy,
                capabilities=env.capabilities,
                advance=lambda _k, _n: 0,
            )
            default = env.default_senders.get(ids[0])
            sender = fast.sender or (phone.sender(default) if default else None)
            if env.templates is not None:  # a synced sender list: the long way names the problem
                templates.check_sender(sender, env.templates.senders(ids[0]), ids[0])
        except KmsgError:
            fast.protos[kind] = None
            return None
        message = Message(
            message_id="",
            type=kind,
            to="",
            sender=sender,
            text="",
            job_id=self.campaign_id,
            ad=self.spec.ad,
        )
        planned = Planned(message, tuple(ids), reason, 0, (), env.prices.get(kind.value))
        fast.protos[kind] = (planned, message)
        return planned, message

    def _quick(self, number: int, values: list[str], fast: _Fast) -> Planned | None:
        """The row planned the short way, or None when anything about it needs the long way."""
        to = values[self.to_at]
        if not _MOBILE(to) or not content.valid_utf8("".join(values)):
            return None
        variables = {name: values[i] for name, i in self.variables}
        pieces = fast.text
        parts = list(pieces)
        for j in range(1, len(parts), 2):
            value = variables[pieces[j]]
            if not value.strip():  # an empty cell: the long way says which
                return None
            parts[j] = value
        text = "".join(parts)
        subject = None
        if fast.subject is not None:
            parts = list(fast.subject)
            for j in range(1, len(parts), 2):
                parts[j] = variables[fast.subject[j]]
            subject = "".join(parts)
            if content.byte_length(subject) > content.SUBJECT_MAX_BYTES:
                return None
        size = content.byte_length(text)
        kind = fast.explicit or MessageType.SMS
        limit = content.SMS_MAX_BYTES if kind is MessageType.SMS else content.LMS_MAX_BYTES
        if fast.explicit is None and (size > self.env.auto_lms_bytes or subject):
            kind, limit = MessageType.LMS, content.LMS_MAX_BYTES
        if size > limit or content.unencodable(text + (subject or "")):
            return None  # too long, or a warning to give: the long way
        proto = self._routed(fast, kind)
        if proto is None:
            return None
        planned, message = proto
        if message.ad:
            try:
                korea.check_ad_text(text)
            except KmsgError:
                return None
        if self.count_only:  # the type, route, size and ad flag are all a count needs
            counted = fast.counted.get((kind, size))
            if counted is None:
                counted = fast.counted[kind, size] = evolve(planned, bytes=size)
            return counted
        key = None
        if self.keys:
            ordered = [(name, values[i]) for name, i in self.key_order]  # as row_key sorts them
            key = bulk.key_for(
                self.campaign_id, to, kind, message.sender, text, subject, None, ordered
            )
        m = evolve(
            message,
            message_id=service.new_message_id(self.env.clock.now_ms()),
            to=to,
            text=text,
            subject=subject,
            variables=variables,
            idempotency_key=key,
            metadata={"row": number, "run": self.run_id},
        )
        return evolve(planned, message=m, bytes=size)


@dataclass
class _Fast:
    explicit: MessageType | None
    sender: str | None
    text: tuple[str, ...]  # literal, name, literal, ..., literal
    subject: tuple[str, ...] | None
    protos: dict[MessageType, tuple[Planned, Message] | None]
    # a count's plans by (type, bytes): the same few hundred for any number of rows
    counted: dict[tuple[MessageType, int], Planned] = field(default_factory=dict)


# the Spec fields the short way applies; a campaign that sets any other takes the long way
_PLAIN = Spec()
_SHORT_WAY_KNOWS = frozenset(
    {"text", "type", "subject", "template_id", "sender", "provider_id", "to_column", "encoding"}
    | {"strict", "ad"}
)
_MOBILE = re.compile(r"(?:010\d{8}|01[16789]\d{7,8})\Z", re.ASCII).match  # as phone.recipient
