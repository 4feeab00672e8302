"""Korean sending rules: advertising format, the 21:00–08:00 night ban, and the 08:00–20:50 window
of Kakao's brand messages and FriendTalk (docs/providers.md#advertising).

Clock times are always evaluated in Asia/Seoul, whatever the host's zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from kmsg_cli.core.models import KAKAO_AD_TYPES, Message, MessageType
from kmsg_cli.core.times import KST
from kmsg_cli.errors import InputError

AD_PREFIX = "(광고)"
QUIET_START_HOUR = 21
QUIET_END_HOUR = 8
# Kakao takes brand messages and FriendTalk 08:00-20:50 KST only (SOLAPI 3108 outside it)
KAKAO_LAST_MINUTE = 20 * 60 + 50
# "무료거부 080-123-4567", "무료수신거부 0801234567": a free opt-out line with an 080 number
_OPT_OUT = re.compile(r"무료(수신)?거부\s*[:：]?\s*080-?\d{3,4}-?\d{4}")


def check_ad(message: Message) -> None:
    """An advertising message must start with ``(광고)`` exactly and carry a free 080 opt-out;
    AlimTalk is informational only (ads go by SMS/LMS/MMS or FriendTalk)."""
    if message.type is MessageType.ALIMTALK:
        raise InputError("AlimTalk cannot carry advertising", hint="send the ad as SMS/LMS")
    if message.type in KAKAO_AD_TYPES:
        return  # Kakao itself labels them (광고) and adds the channel's block link
    check_ad_text(message.text)


def check_ad_text(text: str) -> None:
    if not text.lstrip().startswith(AD_PREFIX):
        raise InputError(
            "an advertising message must start with (광고) exactly",
            hint="e.g. (광고) 회사명 ... — [광고], (광 고) and similar forms are violations",
        )
    if not _OPT_OUT.search(text):
        raise InputError(
            "an advertising message needs a free opt-out line with an 080 number",
            hint="add e.g. 무료거부 080-123-4567",
        )


def in_quiet_hours(at_ms: int, *, kakao: bool = False) -> bool:
    """Inside the night ban; ``kakao``: outside the 08:00-20:50 window of brand messages."""
    local = datetime.fromtimestamp(at_ms / 1000, KST)
    if local.hour < QUIET_END_HOUR:
        return True
    if kakao:
        return local.hour * 60 + local.minute >= KAKAO_LAST_MINUTE
    return local.hour >= QUIET_START_HOUR


def kakao_ad(message_type: str | MessageType | None) -> bool:
    """Whether a message of this type keeps to the 08:00-20:50 KST window."""
    return bool(message_type) and str(message_type).strip().upper() in KAKAO_AD_TYPES


def quiet_hours_end(at_ms: int) -> int:
    """The next 08:00 KST at or after ``at_ms`` (when a deferred ad may go out)."""
    local = datetime.fromtimestamp(at_ms / 1000, KST)
    end = local.replace(hour=QUIET_END_HOUR, minute=0, second=0, microsecond=0)
    if local.hour >= QUIET_END_HOUR:
        end += timedelta(days=1)
    return int(end.timestamp() * 1000)


def provider_can_schedule(window: tuple[int, int] | None, now_ms: int, at_ms: int) -> bool:
    """Whether a provider holding scheduled sends ``window`` = (min, max) seconds ahead (its
    capabilities, docs/providers.md#scheduling-windows) takes one due at ``at_ms``; outside it,
    kmsg holds the message in its own queue instead."""
    if window is None:
        return False
    lead = (at_ms - now_ms) / 1000
    return window[0] <= lead <= window[1]


def ad_send_time(
    now_ms: int, at_ms: int | None, *, defer: bool, kakao: bool = False
) -> tuple[int | None, bool]:
    """When an advertising message may go out: (time or None for now, deferred?).

    Inside 21:00–08:00 KST (``kakao``: outside 08:00–20:50) it is refused (TemporaryError, exit
    75), or with ``defer`` moved to 08:00.
    """
    from kmsg_cli.errors import TemporaryError

    when = at_ms if at_ms is not None else now_ms
    if not in_quiet_hours(when, kakao=kakao):
        return at_ms, False
    if not defer:
        local = datetime.fromtimestamp(when / 1000, KST).strftime("%H:%M KST")
        what = (
            "brand messages and FriendTalk may be sent only between 08:00 and 20:50 KST"
            if kakao
            else "advertising messages may not be sent between 21:00 and 08:00 KST"
        )
        raise TemporaryError(
            f"{what} (send time {local})", hint="pass --defer to queue it for 08:00 KST"
        )
    return quiet_hours_end(when), True
