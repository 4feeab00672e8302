"""`kmsg send`: one message to one or more recipients."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli.commands._common import (
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    IntervalOpt,
    TimeoutOpt,
    app_context,
    command,
)
from kmsg_cli.commands._complete import complete_provider_ids, complete_types
from kmsg_cli.commands._send_view import outcome_doc, show_dry_run, show_outcomes
from kmsg_cli.core import buttons, korea, phone, queue, service
from kmsg_cli.core.compose import Draft, check_variables
from kmsg_cli.core.models import Failover, MessageType
from kmsg_cli.core.times import parse_when
from kmsg_cli.errors import ExitCode, InputError, UsageError

if TYPE_CHECKING:
    from kmsg_cli.context import AppContext
    from kmsg_cli.core.ports import Env
    from kmsg_cli.core.service import Outcome, Planned


def register(app: typer.Typer) -> None:
    command(app, "send", formats=True)(send)


def send(
    ctx: typer.Context,
    to: Annotated[
        list[str],
        typer.Option(
            "--to",
            metavar="NUMBER[,NUMBER]",
            help="Recipient; repeat or comma-separate.",
            show_default=False,
        ),
    ] = [],  # noqa: B006
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            metavar="TEXT",
            help="Message text; - reads stdin. #{name} or {name} takes --var values.",
        ),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="SMS|LMS|MMS|ALIMTALK|BRAND|FRIENDTALK (default: SMS, LMS past 90 B).",
            autocompletion=complete_types,
        ),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option("--from", metavar="NUMBER", help="Sender number (default: the provider's)."),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", metavar="TEXT", help="LMS/MMS title (40 bytes).")
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image", metavar="PATH", help="JPEG image: makes the message MMS (or a BRAND's)."
        ),
    ] = None,
    button: Annotated[
        list[str],
        typer.Option(
            "--button",
            metavar="TYPE:NAME[:URL]",
            help="Kakao button (WL:보기:https://m.x.kr) or JSON; repeatable.",
        ),
    ] = [],  # noqa: B006
    template_id: Annotated[
        str | None, typer.Option("--template-id", metavar="ID", help="AlimTalk template.")
    ] = None,
    var: Annotated[
        list[str],
        typer.Option("--var", metavar="KEY=VALUE", help="Template variable KEY=VALUE; repeatable."),
    ] = [],  # noqa: B006
    vars_json: Annotated[
        str | None, typer.Option("--vars", metavar="JSON", help="Variables as a JSON object.")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="ID",
            help="Send through this provider id.",
            autocompletion=complete_provider_ids,
        ),
    ] = None,
    failover: Annotated[
        bool,
        typer.Option(
            "--failover/--no-failover", help="ALIMTALK: fall back to SMS/LMS if not delivered."
        ),
    ] = False,
    fallback_channel: Annotated[
        str | None,
        typer.Option(
            "--fallback-channel", metavar="[sms|lms]", help="sms|lms (default: by length)."
        ),
    ] = None,
    fallback_text: Annotated[
        str | None,
        typer.Option(
            "--fallback-text",
            metavar="TEXT",
            help="Text of the fallback SMS/LMS (implies --failover).",
        ),
    ] = None,
    fallback_subject: Annotated[
        str | None,
        typer.Option("--fallback-subject", metavar="TEXT", help="Title of the fallback LMS."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="WHEN",
            help="Send later: 2026-12-01T09:00+09:00, '2026-12-01 09:00' (Seoul) or +2h.",
        ),
    ] = None,
    ad: Annotated[
        bool,
        typer.Option(
            "--ad", help="Advertising: needs (광고) and a 080 opt-out; not 21:00-08:00 KST."
        ),
    ] = False,
    defer: Annotated[
        bool,
        typer.Option(
            "--defer", help="An ad out of hours: queue it for 08:00 KST instead of refusing."
        ),
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", metavar="KEY", help="The same key is never sent twice."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse characters EUC-KR cannot carry.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Resolve everything and print the provider request; send nothing."
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Check until every message is final; exit 0 delivered, 1 not, 75 timeout.",
        ),
    ] = False,
    interval: IntervalOpt = DEFAULT_INTERVAL,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
) -> int:
    """Send one message to one or more recipients.

    Examples:

    \b
      kmsg send --to 010-1234-5678 --text "배송이 시작되었습니다"
      kmsg send --to 010-1234-5678,010-2222-3333 --text "점검 안내" --at "2026-12-01 09:00"
      kmsg send --to 010-1234-5678 --template-id TPL1 --var name=김철수 --failover
      kmsg send --to 010-1234-5678 --text "인증번호 123456" --wait --timeout 2m
    """
    app_ctx = app_context(ctx)
    if wait and (at or defer or dry_run):
        raise UsageError("--wait cannot be combined with --at, --defer or --dry-run")
    if not to:
        raise UsageError("missing option --to", hint="kmsg send --to 010-1234-5678 --text hello")
    if text is None and template_id is None:
        raise UsageError("missing option --text (or --template-id for AlimTalk)")
    now = app_ctx.clock.now_ms()
    scheduled_at = parse_when(at, now) if at else None
    draft = Draft(
        text=_read_text(text),
        type=type_,
        sender=sender,
        subject=subject,
        image=image,
        template_id=template_id,
        variables=parse_vars(var, vars_json),
        provider_id=provider,
        failover=Failover.asked(failover, fallback_text, fallback_subject, fallback_channel),
        idempotency_key=idempotency_key,
        strict=strict,
        ad=ad,
        scheduled_at=scheduled_at,
        buttons=buttons.parse(button),
    )
    check_variables(draft)
    recipients = [part.strip() for item in to for part in item.split(",") if part.strip()]
    for raw in recipients:  # typed here: an error shows it as typed
        phone.recipient(raw, typed=True)
    env = app_ctx.env()
    planned = service.plan(draft, recipients, env)
    for item in planned:
        m = item.message
        rest = f"; then {', '.join(item.route[1:])}" if len(item.route) > 1 else ""
        mode = f"; failover {m.failover_mode}" if m.failover_mode else ""
        app_ctx.output.log(
            f"route: {app_ctx.output.phone(m.to)} {m.type.value} via {item.route[0]} "
            f"({item.reason}){rest}{mode}"
        )
    # every recipient gets the same text, so its warnings once, not once per recipient
    for warning in dict.fromkeys(w for item in planned for w in item.warnings):
        app_ctx.output.warn(warning)
    longer = _longer_than_sms(draft, planned, env)
    if longer:
        app_ctx.output.warn(longer)
    deferred = False
    if any(item.message.ad for item in planned):  # --ad, or a brand message / FriendTalk
        for item in planned:
            korea.check_ad(item.message)
        kakao = any(korea.kakao_ad(item.message.type) for item in planned)
        scheduled_at, deferred = korea.ad_send_time(now, scheduled_at, defer=defer, kakao=kakao)
    if dry_run:
        return show_dry_run(app_ctx, planned)
    if scheduled_at is None:
        outcomes = service.execute(planned, env)
    else:
        outcomes = queue.send_at(planned, draft, scheduled_at, env, deferred=deferred)
    code = service.exit_code(outcomes)
    if wait and code == ExitCode.OK and scheduled_at is None:
        return _wait(app_ctx, outcomes, interval, timeout)
    show_outcomes(app_ctx.output, outcomes, code, shorten=app_ctx.store().short_ids)
    return code


def _wait(app_ctx: AppContext, outcomes: list[Outcome], interval: float, timeout: str) -> int:
    """--wait: report the send, then follow its messages to a final state, each change a line on
    stderr (with --json, one document: the send's rows with a ``final`` status each)."""
    out = app_ctx.output
    ids = [o.existing.message_id if o.existing else o.message.message_id for o in outcomes]
    if not out.json_mode:
        show_outcomes(out, outcomes, ExitCode.OK, shorten=app_ctx.store().short_ids)
    from kmsg_cli.commands._watch import follow

    followed, code, error = follow(app_ctx, ids, interval, timeout)
    rows = [outcome_doc(out, o) for o in outcomes]
    for row, f in zip(rows, followed, strict=True):
        row["final"] = f.record.status.value if f.record and f.final else None
        row["final_message_id"] = f.record.message_id if f.record else None
    doc = {"messages": rows, "accepted": len(rows), "failed": 0, "warnings": []}
    if out.json_mode:
        if error is not None:
            out.fail(error, doc)
        else:
            out.emit(doc)
        return code
    if error is not None:
        out.fail(error)
    return code


def _read_text(text: str | None) -> str | None:
    if text == "-":
        # decoded as argv is: invalid bytes become lone surrogates, which compose refuses with
        # one line (a strict read would end in an internal error instead)
        data = sys.stdin.buffer.read()
        read = data.decode(sys.stdin.encoding or "utf-8", "surrogateescape")
        # exactly one line ending goes, as `git commit -F -` drops it: `echo` adds one, and a
        # 90-byte SMS must not become a 91-byte LMS; a blank line meant as content stays
        if read.endswith("\n"):
            read = read[:-2] if read.endswith("\r\n") else read[:-1]
        return read
    return text


def _longer_than_sms(draft: Draft, planned: list[Planned], env: Env) -> str | None:
    """A message that is LMS only because of its length costs more than the SMS the sender may
    have had in mind: say so, with the bytes and, when [prices] has both, the difference."""
    if draft.type or draft.subject is not None or draft.image or draft.template_id:
        return None  # the type was chosen, or follows from a subject or an image
    longer = [p for p in planned if p.message.type is MessageType.LMS]
    if not longer:
        return None
    note = (
        f"text is {max(p.bytes for p in longer)} bytes, over the {env.auto_lms_bytes}-byte "
        "SMS limit: it goes as LMS"
    )
    sms, lms = env.prices.get("SMS"), env.prices.get("LMS")
    if sms is not None and lms is not None:
        note += f" (+{_krw(lms - sms)} KRW a message: LMS {_krw(lms)}, SMS {_krw(sms)} KRW)"
    return note


def _krw(amount: float) -> str:
    return f"{amount:,.2f}".rstrip("0").rstrip(".")


def parse_vars(pairs: list[str], as_json: str | None) -> dict[str, str]:
    variables: dict[str, str] = {}
    if as_json:
        try:
            loaded = json.loads(as_json)
        except json.JSONDecodeError as exc:
            raise InputError(f"--vars is not valid JSON: {exc.msg}") from None
        if not isinstance(loaded, dict):
            raise InputError("--vars must be a JSON object")
        variables.update({str(k).strip(): _str(v) for k, v in loaded.items()})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--var {pair!r}: expected KEY=VALUE")
        variables[key.strip()] = value
    return variables


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, dict | list):
        raise InputError(f"--vars values must be text or numbers, not {json.dumps(value)}")
    return json.dumps(value)
