"""Turn what the user typed (a Draft) into validated, rendered Messages (SEND-1..5, BYTE-2..6,
FO-6..8).

Type inference changes ``type`` and nothing else: every field the user gave reaches the Message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kmsg_cli.core import buttons, content, images, phone
from kmsg_cli.core.models import KAKAO_AD_TYPES, TEXT_TYPES, Button, Failover, Message, MessageType
from kmsg_cli.errors import InputError

# Provider types whose native failover can only resend the AlimTalk's own text: SOLAPI has no field
# for a replacement text (docs/providers.md#native-failover-switches).
NATIVE_RESENDS_ALIMTALK_TEXT = frozenset({"solapi"})
# Provider types that take the AlimTalk body as fully rendered text and substitute nothing
# themselves (docs/providers.md#aligo-sending).
RENDERED_ALIMTALK_BODY = frozenset({"aligo"})
# brand message and FriendTalk text limits in characters (docs/providers.md#brand-messages)
BRAND_MAX_CHARS = 1300
BRAND_MAX_LINES = 100
FRIENDTALK_MAX_CHARS = 1000
FRIENDTALK_IMAGE_MAX_CHARS = 400


@dataclass(frozen=True)
class Draft:
    text: str | None = None
    type: str | None = None
    sender: str | None = None
    subject: str | None = None
    image: str | None = None
    template_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    provider_id: str | None = None
    scheduled_at: int | None = None
    failover: Failover | None = None
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    ad: bool = False
    strict: bool = False
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Composed:
    message: Message
    bytes: int
    warnings: tuple[str, ...] = ()


def compose(draft: Draft, to: str, message_id: str, *, auto_lms_bytes: int = 90) -> Composed:
    """Validate and render one message for one recipient (raw ``to``; normalized here)."""
    recipient = phone.recipient(to)
    sender = phone.sender(draft.sender) if draft.sender else None
    _check_utf8(draft)
    explicit = MessageType.parse(draft.type) if draft.type else None
    kind = explicit or _implied_type(draft)
    warnings: list[str] = []

    if kind is MessageType.ALIMTALK:
        text, subject = _alimtalk_text(draft)
    elif kind in KAKAO_AD_TYPES:
        text, subject = _kakao_text(draft, kind)
    else:
        text, subject = _body(draft)
    size = content.byte_length(text)

    if kind in TEXT_TYPES:
        kind = _text_type(kind, explicit, draft, size, subject, auto_lms_bytes)
        bad = content.unencodable(text + (subject or ""))
        if bad:
            chars = "".join(bad[:5])
            if draft.strict:
                raise InputError(f"characters EUC-KR cannot carry ({chars}): --strict refuses them")
            warnings.append(
                f"characters EUC-KR cannot carry ({chars}): providers may reject or replace them"
            )

    buttons.check(draft.buttons, kind)
    failover = _failover(draft, kind)
    message = Message(
        message_id=message_id,
        type=kind,
        to=recipient,
        sender=sender,
        text=text,
        subject=subject,
        image=draft.image,
        template_id=draft.template_id,
        variables=dict(draft.variables),
        scheduled_at=draft.scheduled_at,
        failover=failover,
        idempotency_key=draft.idempotency_key,
        metadata=dict(draft.metadata),
        ad=draft.ad or kind in KAKAO_AD_TYPES,  # brand messages and FriendTalk are advertising
        buttons=draft.buttons,
    )
    return Composed(message, size, tuple(warnings))


def check_variables(draft: Draft) -> None:
    """Every variable given must be used by a text the message sends (exit 65, with a
    did-you-mean). An AlimTalk's variables also fill its template at the provider, which kmsg
    cannot see, so they are not checked."""
    if draft.template_id or not draft.variables:
        return
    fo = draft.failover
    content.check_unused(
        draft.variables,
        draft.text,
        draft.subject,
        fo.text if fo else None,
        fo.subject if fo else None,
    )


def _check_utf8(draft: Draft) -> None:
    """Every field that reaches the provider or the journal as text, before any is rendered,
    stored or sent. One search over all of them first: the field is looked for only if needed."""
    failover = draft.failover
    every = (
        draft.text or "",
        draft.subject or "",
        draft.template_id or "",
        draft.idempotency_key or "",
        failover.text or "" if failover else "",
        failover.subject or "" if failover else "",
        *draft.variables,
        *draft.variables.values(),
    )
    if content.valid_utf8("".join(every)):
        return
    fields = {
        "text": draft.text,
        "subject": draft.subject,
        "template id": draft.template_id,
        "idempotency key": draft.idempotency_key,
        "fallback text": draft.failover.text if draft.failover else None,
        "fallback subject": draft.failover.subject if draft.failover else None,
    }
    for what, value in fields.items():
        if value is not None:
            content.check_utf8(value, what)
    for name, value in draft.variables.items():
        content.check_utf8(name, f"variable name {name!r}")
        content.check_utf8(value, f"variable {name!r}")


def _implied_type(draft: Draft) -> MessageType:
    if draft.image:
        return MessageType.MMS
    if draft.template_id:
        return MessageType.ALIMTALK
    return MessageType.SMS


def _body(draft: Draft) -> tuple[str, str | None]:
    if draft.text is None or not draft.text.strip():
        raise InputError(
            "message text is empty", hint="pass --text TEXT (or --text - to read stdin)"
        )
    text = content.render(content.normalize_text(draft.text), draft.variables)
    subject = None
    if draft.subject is not None:
        subject = content.render(draft.subject, draft.variables, what="subject")
        if content.byte_length(subject) > content.SUBJECT_MAX_BYTES:
            raise InputError(
                f"subject is {content.byte_length(subject)} bytes; the limit is "
                f"{content.SUBJECT_MAX_BYTES} bytes (20 Hangul)"
            )
    return text, subject


def _text_type(
    kind: MessageType,
    explicit: MessageType | None,
    draft: Draft,
    size: int,
    subject: str | None,
    auto_lms_bytes: int,
) -> MessageType:
    if draft.image and kind is not MessageType.MMS:
        raise InputError(f"--image makes a message MMS, but --type {kind.value} was given")
    if kind is MessageType.MMS and not draft.image:
        raise InputError("an MMS needs an image", hint="pass --image PATH (JPEG)")
    if size > content.LMS_MAX_BYTES:
        raise InputError(
            f"text is {size} bytes; the LMS/MMS limit is {content.LMS_MAX_BYTES} bytes"
        )
    if explicit is MessageType.SMS:
        if subject is not None:
            raise InputError("an SMS has no subject: drop --subject or use --type LMS")
        if size > content.SMS_MAX_BYTES:
            raise InputError(
                f"text is {size} bytes; an SMS holds {content.SMS_MAX_BYTES} bytes "
                "(45 Hangul or 90 ASCII)",
                hint="omit --type to send it as LMS",
            )
        return kind
    if explicit is None and kind is MessageType.SMS and (size > auto_lms_bytes or subject):
        return MessageType.LMS
    return kind


def _kakao_text(draft: Draft, kind: MessageType) -> tuple[str, str | None]:
    """A brand message or FriendTalk: free-form text (no template, no subject), an optional image."""
    name = kind.value
    if draft.template_id:
        raise InputError(
            f"a {name} is free-form: it takes --text, not --template-id",
            hint="drop --template-id, or --type ALIMTALK for a template",
        )
    if draft.subject is not None:
        raise InputError(f"a {name} has no subject: drop --subject")
    text, _ = _body(draft)
    limit = BRAND_MAX_CHARS if kind is MessageType.BRAND else FRIENDTALK_MAX_CHARS
    if kind is MessageType.FRIENDTALK and draft.image:
        limit = FRIENDTALK_IMAGE_MAX_CHARS
    if len(text) > limit:
        with_image = " with an image" if kind is MessageType.FRIENDTALK and draft.image else ""
        raise InputError(f"{name} text is {len(text)} characters; the limit{with_image} is {limit}")
    if kind is MessageType.BRAND and text.count("\n") >= BRAND_MAX_LINES:
        raise InputError(f"{name} text has {text.count(chr(10)) + 1} lines; the limit is 100")
    return text, None


def _alimtalk_text(draft: Draft) -> tuple[str, str | None]:
    if draft.image:
        raise InputError("an ALIMTALK has no image: its template is what Kakao shows")
    if not draft.template_id:
        raise InputError("an ALIMTALK needs a template", hint="pass --template-id ID")
    text = ""
    if draft.text:
        text = content.render(content.normalize_text(draft.text), draft.variables)
        if len(text) > content.ALIMTALK_MAX_CHARS:
            raise InputError(
                f"AlimTalk text is {len(text)} characters after substitution; "
                f"the limit is {content.ALIMTALK_MAX_CHARS}"
            )
    return text, None


def _failover(draft: Draft, kind: MessageType) -> Failover | None:
    fo = draft.failover
    if fo is None or not fo.enabled:
        return None
    if kind is not MessageType.ALIMTALK:
        raise InputError("--failover applies to ALIMTALK only")
    if fo.channel not in (None, "sms", "lms"):
        raise InputError(f"unknown fallback channel {fo.channel!r}: use sms or lms")
    if not fo.text or not fo.text.strip():
        raise InputError("failover needs the fallback SMS text", hint='pass --fallback-text "..."')
    text = content.render(content.normalize_text(fo.text), draft.variables, what="fallback text")
    subject = (
        content.render(fo.subject, draft.variables, what="fallback subject") if fo.subject else None
    )
    fallback = Draft(text=text, subject=subject, type=fo.channel, strict=draft.strict)
    # validate now, before the AlimTalk goes out (FO-8): the same rules as any SMS/LMS
    _text_type(
        MessageType.parse(fo.channel) if fo.channel else MessageType.SMS,
        MessageType.parse(fo.channel) if fo.channel else None,
        fallback,
        content.byte_length(text),
        subject,
        content.SMS_MAX_BYTES,
    )
    return replace(fo, text=text, subject=subject)


def fallback_type(fo: Failover) -> MessageType:
    """SMS or LMS for a fallback: the channel asked for, else by bytes (FO-6)."""
    if fo.channel == "lms" or fo.subject:
        return MessageType.LMS
    if fo.channel == "sms":
        return MessageType.SMS
    size = content.byte_length(fo.text or "")
    return MessageType.LMS if size > content.SMS_MAX_BYTES else MessageType.SMS


def failover_mode(message: Message, kind: str, native: bool) -> str | None:
    """The failover path of ``message`` on a provider of type ``kind`` (FO-4, FO-7): ``native``
    only when the provider's own switch sends the fallback text that was asked for, else ``api``
    (kmsg sends it after a not-a-KakaoTalk-user status). None without failover."""
    fo = message.failover
    if fo is None:
        return None
    if not native:
        return "api"
    if kind in NATIVE_RESENDS_ALIMTALK_TEXT and not _resends_as_asked(message, fo):
        return "api"
    return "native"


def _resends_as_asked(message: Message, fo: Failover) -> bool:
    """Would resending the AlimTalk's own text deliver exactly the fallback asked for? Only if the
    fallback is that rendered text, with no subject and no channel of its own."""
    return bool(message.text) and fo.text == message.text and not fo.subject and not fo.channel


def check_for_provider(message: Message, kind: str) -> None:
    """Refuse, before anything is journaled, a message this type of provider would send wrong:
    among others an image it would not take (core/images.py)."""
    images.check(message, kind)
    if (
        message.type is MessageType.ALIMTALK
        and kind in RENDERED_ALIMTALK_BODY
        and not message.text.strip()
    ):
        raise InputError(
            f"an AlimTalk through {kind} needs its text: {kind} sends the approved template "
            "text with every #{name} filled in, and kmsg cannot look the template up",
            hint="pass --text with the approved template text and --var NAME=VALUE for each "
            "#{name}",
        )
