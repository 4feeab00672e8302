"""The send-bulk use case: one run of a campaign, from taking it to giving it back.

    take -> settle -> preview -> (the caller confirms) -> send -> finish

A campaign is taken first (one live run per campaign), and the rows an earlier run left unanswered
are settled with the provider (core/settle.py) before the preview counts what is left, so the
preview, --max-cost and "nothing to send" all see the rows settlement frees. The command supplies
the rows (a re-readable CSV), the confirmation and the rendering; this module decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kmsg_cli.core import (
    bulk,
    campaign,
    campaign_hold,
    content,
    gcpace,
    korea,
    ledger,
    phone,
    routing,
    service,
    templates,
)
from kmsg_cli.core.bulk import Spec, Summary
from kmsg_cli.core.campaign import Item, RowResult
from kmsg_cli.core.models import Message, MessageType, evolve
from kmsg_cli.core.ports import Env
from kmsg_cli.core.service import Planned
from kmsg_cli.core.settle import Settled
from kmsg_cli.errors import ExitCode, KmsgError, TemporaryError

Rows = Callable[[], tuple[Sequence[str], Iterator[tuple[int, list[str]]]]]  # (header, rows)
COUNT_BATCH = 500  # rows looked up in the ledger at once by the preview


PROBLEMS_KEPT = 20  # invalid rows the preview keeps to name when nothing is left to send


@dataclass
class CampaignRun:
    env: Env
    spec: Spec
    campaign_id: str
    rows: Rows
    run_id: str  # tells a row repeated in this file from one sent by an earlier run
    ran_before: bool = True  # take() learns it; until then the preview asks the ledger

    @property
    def store(self) -> Any:
        return self.env.store()

    def check_header(self, header: Sequence[str]) -> None:
        """A bad header or --text is one error (65) before the campaign is taken."""
        bulk.columns(header, self.spec)

    def items(
        self, env: Env, *, preview: bool, keys: bool = True, count_only: bool = False
    ) -> Iterator[Item]:
        """(row, recipient as written, plan or the reason it is invalid), one row at a time.
        ``keys`` False: a count that never asks the ledger may leave the common rows unkeyed;
        ``count_only`` too: their plans then carry only what Summary.add reads (type, ad,
        route, bytes), not the message itself."""
        header, rows = self.rows()
        plan = RowPlanner(
            header,
            self.spec,
            env,
            self.campaign_id,
            self.run_id,
            preview=preview,
            keys=keys,
            count_only=count_only,
        )
        for number, values in rows:
            yield plan(number, values)

    # -- the steps, in order ----------------------------------------------------------------

    def take(self, owner: str, source: str, alive: Callable[[str, int], bool]) -> None:
        """Own the campaign for this run, or TemporaryError (75) naming the live run holding it."""
        now = self.env.clock.now_ms()
        spec = asdict(self.spec)
        self.ran_before = self.store.campaign(self.campaign_id) is not None
        holder = self.store.claim_campaign(self.campaign_id, source, spec, owner, now, alive)
        if holder is not None:
            raise TemporaryError(
                f"job {self.campaign_id} is being sent by {holder.owner}; nothing sent",
                hint="wait for it to finish (rerunning then sends only what is left)",
            )

    def settle(self) -> Settled:
        return campaign.reconcile(self.campaign_id, self.env)

    def preview(self) -> Summary:
        """Check every row and count what would be sent; rows already sent, and rows not settled,
        are counted apart (not sent this time). Nothing is written. The ledger is asked only when
        an earlier run of this campaign wrote any row."""
        summary = Summary()
        # rows an earlier run held in the queue (--at, --defer) are recorded under their queue
        # jobs, not the campaign: a campaign taken before always asks the ledger
        earlier = self.ran_before or bool(self.store.list_records(job=self.campaign_id, limit=1))
        rows = self.items(self.env, preview=True, keys=earlier, count_only=not earlier)
        with gcpace.few_collections():
            self._count_rows(summary, rows, earlier)
        return summary

    def _count_rows(self, summary: Summary, rows: Iterable[Item], earlier: bool) -> None:
        batch: list[Planned] = []
        for row, to, plan in rows:
            summary.rows += 1
            if isinstance(plan, KmsgError):
                summary.invalid += 1
                if len(summary.problems) < PROBLEMS_KEPT:
                    summary.problems.append((row, to, plan.message))
                continue
            summary.valid += 1
            if not earlier:
                summary.add(plan.message, plan.route[0], plan.bytes, self.env.prices)
                continue
            batch.append(plan)
            if len(batch) >= COUNT_BATCH:
                self._count(summary, batch)
                batch = []
        self._count(summary, batch)

    def _count(self, summary: Summary, batch: list[Planned]) -> None:
        latest = self.store.latest_attempts(p.message.idempotency_key or "" for p in batch)
        for p in batch:
            earlier = latest.get((p.message.idempotency_key or "", p.message.to))
            verdict = ledger.decide(p.message, earlier).verdict
            if verdict is ledger.Verdict.ACCEPTED:
                summary.sent_before += 1
            elif verdict is ledger.Verdict.SETTLE:
                summary.unsettled += 1
            elif verdict is ledger.Verdict.HELD:  # held in the queue by a scheduled run
                summary.queued_before += 1
            else:
                summary.add(p.message, p.route[0], p.bytes, self.env.prices)

    def check(self, summary: Summary, max_cost: float | None) -> None:
        """What refuses the whole run before anything is sent: an ad at night (75), the cost."""
        campaign_hold.check_ads(summary, self.spec, self.env.clock.now_ms())
        summary.check_cost(max_cost)

    def send(
        self,
        owner: str,
        emit: Callable[[list[RowResult]], None],
        stop: Callable[[], bool],
        *,
        concurrency: int,
        rate: float | None,
    ) -> bool:
        """Send every row the ledger lets out; True when stopped early. A heartbeat every 30 s
        tells other hosts this run is alive."""
        env = campaign.locked(self.env)
        beat = [env.clock.now_ms()]

        def report(results: list[RowResult]) -> None:
            emit(results)
            now = env.clock.now_ms()
            if now - beat[0] >= 30_000:
                beat[0] = now
                self.store.heartbeat_campaign(self.campaign_id, owner, now)

        # rows due later (--at, --defer) are held in the queue as they pass; the rest are sent
        holder = campaign_hold.Holder(env, self.spec, self.campaign_id, self.run_id, report, stop)
        with gcpace.few_collections():
            stopped = campaign.send_rows(
                holder.split(self.items(env, preview=False)),
                env,
                emit=report,
                stop=stop,
                concurrency=concurrency,
                rate=rate,
            )
        return stopped or holder.stopped

    def finish(self, owner: str, state: str, counts: dict[str, int]) -> None:
        self.store.finish_campaign(self.campaign_id, owner, state, counts, self.env.clock.now_ms())


def nothing_to_send(summary: Summary) -> ExitCode:
    """The exit code when the preview leaves nothing to send."""
    if summary.unsettled:
        return ExitCode.TEMPFAIL
    return ExitCode.FAILED if summary.invalid else ExitCode.OK


def exit_code(
    counts: dict[str, int], *, fatal: int | None, stopped: bool, interrupted: bool
) -> int:
    """0 only when every row is accepted now or before; 75 while any outcome is unknown."""
    if fatal:
        return fatal
    if stopped:
        return ExitCode.INTERRUPTED if interrupted else ExitCode.TEMPFAIL
    if counts.get("unknown"):
        return ExitCode.TEMPFAIL
    if counts.get("failed") or counts.get("invalid") or counts.get("suppressed"):
        return ExitCode.FAILED
    return ExitCode.OK


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
