"""Bulk rows: the CSV header and each row -> a Draft, and what identifies a row across runs.

A row's idempotency key is its job plus a digest of what it sends (recipient, type, sender, text,
subject, template, variables), not its position in the file: a rerun after fixing a few rows sends
only those, a reordered file sends nothing twice, and an identical row listed twice goes out once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from kmsg_cli.core import buttons, content, jsontext
from kmsg_cli.core.compose import Draft
from kmsg_cli.core.models import KAKAO_AD_TYPES, Failover, Message, MessageType
from kmsg_cli.errors import ConfigError, InputError

RECIPIENT_COLUMNS = (
    "to",
    "phone",
    "recipient",
    "mobile",
    "number",
    "수신번호",
    "수신자번호",
    "전화번호",
    "휴대폰",
    "휴대폰번호",
    "핸드폰",
    "연락처",
)
# per-row columns with a meaning of their own; every other column (the recipient too) is a variable
TEXT_COLUMN, TYPE_COLUMN, SUBJECT_COLUMN, AD_COLUMN = "text", "type", "subject", "ad"
BUTTONS_COLUMN = "buttons"  # the row's Kakao buttons, in --button syntax (core/buttons.py)
_OWN = frozenset({TEXT_COLUMN, TYPE_COLUMN, SUBJECT_COLUMN, AD_COLUMN, BUTTONS_COLUMN})
_YES, _NO = {"y", "yes", "true", "1", "예", "o"}, {"", "n", "no", "false", "0", "아니오", "x"}


@dataclass(frozen=True)
class Spec:
    """What the command line says about every row (saved with the job for --resume)."""

    text: str | None = None
    type: str | None = None
    subject: str | None = None
    template_id: str | None = None
    sender: str | None = None
    provider_id: str | None = None
    to_column: str | None = None
    encoding: str = "utf-8-sig"
    strict: bool = False
    ad: bool = False
    # added by issue 14; a field left at its default does not change the job's id (job_id)
    variables: dict[str, str] = field(default_factory=dict)  # --var: the same for every row
    at: int | None = None  # --at, resolved once (epoch ms): every row is held until then
    defer: bool = False  # --defer: advertising rows due at night are held for 08:00 KST
    failover: bool = False
    fallback_text: str | None = None
    fallback_subject: str | None = None
    fallback_channel: str | None = None

    def fallback(self) -> Failover | None:
        return Failover.asked(
            self.failover, self.fallback_text, self.fallback_subject, self.fallback_channel
        )


# fields that say when the rows go, not what they are: a rerun with another --at is the same job
# (its rows are held already, or sent), never a second copy of the campaign
_TIMING = ("at", "defer")
_ADDED = {
    f: v
    for f, v in asdict(Spec()).items()
    if f in ("variables", "failover", "fallback_text", "fallback_subject", "fallback_channel")
}


@dataclass(frozen=True)
class Columns:
    header: tuple[str, ...]
    to: str
    text: str | None  # the message template: --text converted to #{var} form, or None (text column)


def columns(header: Sequence[str], spec: Spec) -> Columns:
    """Check the header against the spec once, before any row: a missing column is one error
    (exit 65), not the same error on every row."""
    for what, value in (
        ("--text", spec.text),
        ("--subject", spec.subject),
        ("--template-id", spec.template_id),
        ("--fallback-text", spec.fallback_text),
        ("--fallback-subject", spec.fallback_subject),
        *((f"--var {k}", f"{k}={v}") for k, v in spec.variables.items()),
    ):
        if value is not None:  # once here, not the same error on every row
            content.check_utf8(value, what)
    names = tuple(h.strip() for h in header)
    if not any(names):
        raise InputError("the CSV has no header row", hint="the first line must name the columns")
    _no_duplicates(names)
    to = _recipient_column(names, spec.to_column)
    both = sorted(set(spec.variables) & set(names))
    if both:
        raise InputError(
            f"--var {both[0]} is also a column: a row's value and a constant would compete",
            hint="drop the --var, or rename the column",
        )
    if spec.variables and spec.template_id is None and spec.text is not None:
        # a per-row 'text' column may use any variable; --text must use every --var
        content.check_unused(
            spec.variables, spec.text, spec.subject, spec.fallback_text, spec.fallback_subject
        )
    known = set(names) | set(spec.variables)
    for what, template in (
        ("--text", spec.text),
        ("--subject", spec.subject),
        ("--fallback-text", spec.fallback_text),
        ("--fallback-subject", spec.fallback_subject),
    ):
        unknown = sorted(set(content.placeholders(template or "")) - known)
        if unknown:
            raise InputError(
                f"{what} uses {', '.join('{' + u + '}' for u in unknown)}, which "
                f"{'is not a column' if len(unknown) == 1 else 'are not columns'} "
                f"(columns: {', '.join(names)})" + _did_you_mean(unknown[0], known)
            )
    if spec.text is None and spec.template_id is None and TEXT_COLUMN not in names:
        raise InputError(
            "no message text: pass --text, --template-id, or add a 'text' column",
            hint='kmsg send-bulk FILE --text "{name}님, ..."',
        )
    if spec.fallback() is not None and spec.template_id is None:
        raise InputError("--failover applies to AlimTalk: pass --template-id")
    return Columns(names, to, spec.text)


def _did_you_mean(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
    return f"; did you mean {{{close[0]}}}?" if close else ""


def _no_duplicates(names: Sequence[str]) -> None:
    """A row becomes a dict by column name: of two columns with one name, the last would silently
    win (the recipient, or {name} in the text). Unnamed columns (trailing commas) are ignored."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name and name in seen:
            raise InputError(
                f"the header names column {name!r} twice (columns {seen[name]} and {position})",
                hint="rename or remove one of them",
            )
        seen[name] = position


def _recipient_column(names: Sequence[str], explicit: str | None) -> str:
    if explicit is not None:
        if explicit not in names:
            raise InputError(
                f"--to-column {explicit!r} is not a column (columns: {', '.join(names)})"
            )
        return explicit
    lowered = {n.lower(): n for n in names}
    for candidate in RECIPIENT_COLUMNS:
        if candidate in lowered:
            return lowered[candidate]
    raise InputError(
        f"no recipient column (looked for {', '.join(RECIPIENT_COLUMNS[:3])}, 수신번호, ...; "
        f"columns: {', '.join(names)})",
        hint="name it with --to-column COLUMN",
    )


def draft(values: Sequence[str], cols: Columns, spec: Spec) -> tuple[str, Draft]:
    """(raw recipient, draft) for one row; InputError for a malformed row."""
    if len(values) != len(cols.header):
        raise InputError(f"has {len(values)} fields; the header has {len(cols.header)}")
    row = dict(zip(cols.header, values, strict=True))
    variables = {k: v for k, v in row.items() if k and k not in _OWN}
    if spec.variables:
        variables.update(spec.variables)  # no column has a --var's name (columns())
    # a per-row text takes {column} placeholders too
    text = cols.text if cols.text is not None else row.get(TEXT_COLUMN) or None
    # an empty cell would go out as a gap in the text ("님, 0원"): that row is not ready to send
    empty = [n for n in content.placeholders(text or "") if n in row and not row[n].strip()]
    if empty:
        raise InputError(f"{{{empty[0]}}} is empty in this row")
    return row[cols.to], Draft(
        text=text,
        type=row.get(TYPE_COLUMN) or spec.type,
        sender=spec.sender,
        subject=row.get(SUBJECT_COLUMN) or spec.subject,
        template_id=spec.template_id,
        variables=variables,
        provider_id=spec.provider_id,
        strict=spec.strict,
        ad=spec.ad or _flag(row.get(AD_COLUMN, "")),
        failover=spec.fallback(),
        buttons=buttons.parse((row[BUTTONS_COLUMN],)) if row.get(BUTTONS_COLUMN) else (),
    )


def _flag(value: str) -> bool:
    v = value.strip().lower()
    if v not in _YES | _NO:
        raise InputError(f"ad column says {value!r}: use yes or no")
    return v in _YES


def row_key(job_id: str, m: Message) -> str:
    variables = sorted(m.variables.items())
    return key_for(
        job_id, m.to, m.type, m.sender, m.text, m.subject, m.template_id, variables, _buttons(m)
    )


def key_for(
    job_id: str,
    to: str,
    kind: MessageType,
    sender: str | None,
    text: str,
    subject: str | None,
    template_id: str | None,
    variables: list[tuple[str, str]],  # sorted by name
    extra: Sequence[object] = (),  # a brand message's buttons (_buttons); nothing for others
) -> str:
    """The row key from the message's parts (``row_key`` for a Message); never change what it
    digests: a rerun finds the rows an earlier run sent by it."""
    content = jsontext.dumps(
        [to, kind.value, sender, text, subject, template_id, variables, *extra]
    )
    return f"bulk:{job_id}:{hashlib.sha256(content.encode()).hexdigest()[:32]}"


def _buttons(m: Message) -> list[list[dict[str, str]]]:
    """A brand message's buttons are part of what a row sends; nothing for every other row, so
    the keys earlier runs wrote stay as they were."""
    if not m.buttons or m.type not in KAKAO_AD_TYPES:
        return []
    return [[b.as_dict() for b in m.buttons]]


def job_id(source: str, spec: Spec, content: str | None = None) -> str:
    """Readable and stable: the same command on the same file is the same job (so a rerun
    resumes). Stdin has no name, so a piped campaign is named by its ``content`` digest: the same
    rows piped again resume the job, other rows are another job."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", source.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    stem = stem.strip("-")[:24] or "stdin"
    fields = {
        k: v
        for k, v in asdict(spec).items()
        if k not in _TIMING and not (k in _ADDED and v == _ADDED[k])
    }
    named = [source, fields] if source != "-" else [content, fields]
    digest = hashlib.sha256(json.dumps(named, sort_keys=True).encode())
    return f"{stem}-{digest.hexdigest()[:8]}"


@dataclass
class Summary:
    """What the preview shows before anything is sent. Counts always add up to ``rows``."""

    rows: int = 0
    valid: int = 0
    invalid: int = 0
    sent_before: int = 0  # valid rows this job already sent (a rerun skips them)
    unsettled: int = 0  # valid rows an earlier run may have sent: not sent until settled
    queued_before: int = 0  # valid rows an earlier (scheduled) run holds in the queue
    types: Counter[str] = field(default_factory=Counter)  # rows to send, per type
    ads: int = 0  # rows to send as advertising (refused at night)
    providers: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    cost: float = 0.0
    unpriced: set[str] = field(default_factory=set)
    # the first invalid rows (row, recipient as written, why), shown when nothing is left to send
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    warned: int = 0  # valid rows with a warning (characters EUC-KR cannot carry, ...)
    first_warning: tuple[int, str] | None = None  # (row, the warning) of the first of them

    @property
    def to_send(self) -> int:
        return self.valid - self.sent_before - self.unsettled - self.queued_before

    def add(self, m: Message, provider_id: str, size: int, prices: Mapping[str, float]) -> None:
        kind = m.type.value
        self.types[kind] += 1
        self.ads += m.ad
        self.providers[provider_id] += 1
        self.bytes += size
        price = prices.get(kind)
        if price is None:
            self.unpriced.add(kind)
        else:
            self.cost += price

    def warn(self, row: int, warnings: Sequence[str]) -> None:
        """Count a valid row with warnings; keep the first one's."""
        if warnings:
            self.warned += 1
            self.first_warning = self.first_warning or (row, warnings[0])

    def check_cost(self, max_cost: float | None) -> None:
        if max_cost is None:
            return
        if self.unpriced:
            raise ConfigError(
                f"--max-cost needs a price for {', '.join(sorted(self.unpriced))}",
                hint="set it in [prices] (KRW per message)",
            )
        if self.cost > max_cost:
            raise InputError(
                f"estimated cost {self.cost:,.0f} KRW is above --max-cost {max_cost:,.0f}; "
                "nothing sent"
            )
