"""Durations and times typed by users. Korea has no DST: Asia/Seoul is fixed UTC+09:00."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from kmsg_cli.errors import InputError

KST = timezone(timedelta(hours=9), "KST")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def duration_ms(text: str) -> int:
    """``30s``, ``15m``, ``24h``, ``7d``, ``2w`` -> milliseconds."""
    match = _DURATION.match(text.lower())
    if not match:
        raise InputError(f"invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 24h)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def kst(ms: int | None) -> str:
    """Epoch ms -> ``2026-11-26 21:05:00 KST`` (what users read, whatever the host zone)."""
    if ms is None:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, KST).strftime("%Y-%m-%d %H:%M:%S KST")
    except (ValueError, OverflowError, OSError):
        # outside years 1..9999 (a queue entry from before --at had a horizon): still listable
        return f"out of range: {ms} ms since 1970"


def iso(ms: int | None) -> str | None:
    """Epoch ms -> ISO 8601 in Asia/Seoul with its offset, ``2026-11-26T21:05:00.000+09:00``."""
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, KST).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return None  # outside years 1..9999: the _ms field still says it


_OFFSET = re.compile(r"^\s*\+\s*(\d+)\s*([smhdw])\s*$")
# the furthest any provider schedules (docs/providers.md#scheduling-windows); later is a typo
# (9999-12-31, +100000d) that would sit in the queue forever, or past year 9999 break every
# listing of it
HORIZON_DAYS = 180
_HORIZON_MS = HORIZON_DAYS * _UNIT_MS["d"]


def parse_when(text: str, now_ms: int) -> int:
    """``--at``: ISO 8601 with an offset (``2026-12-01T09:00+09:00``, ``...Z``), a local time read
    as Asia/Seoul (``2026-12-01 09:00``), or an offset from now (``+2h``, ``+30m``). The past is an
    error, never an immediate send (SEND-15); so is more than HORIZON_DAYS ahead."""
    offset = _OFFSET.match(text.lower())
    if offset:
        at = now_ms + int(offset.group(1)) * _UNIT_MS[offset.group(2)]
    else:
        try:
            parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
        except ValueError:
            raise InputError(
                f"invalid time {text!r}: use ISO 8601 (2026-12-01T09:00+09:00), "
                "a Seoul local time (2026-12-01 09:00) or an offset (+2h)"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=KST)  # naive input means Seoul, whatever the host zone
        at = int(parsed.timestamp() * 1000)
    if at <= now_ms:
        raise InputError(f"--at {text!r} is in the past ({kst(at)}); nothing was sent")
    if at - now_ms > _HORIZON_MS:
        raise InputError(
            f"--at {text!r} is more than {HORIZON_DAYS} days ahead (latest "
            f"{kst(now_ms + _HORIZON_MS)}); nothing was sent"
        )
    return at


def is_duration(text: str) -> bool:
    return bool(_DURATION.match(text.lower()))


def parse_point(text: str, now_ms: int, option: str = "--since") -> int:
    """A filter's bound: a duration ago (``24h``, ``7d``), or a date or time as ``--at`` reads it
    (``2026-12-01``, ``2026-12-01 08:30`` in Asia/Seoul, or ISO 8601 with an offset). Unlike
    ``--at`` it may be any time, past or future."""
    if is_duration(text):
        return now_ms - duration_ms(text)
    try:
        parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise InputError(
            f"invalid {option} {text!r}: use a duration (24h, 7d), a date (2026-12-01) or a "
            "Seoul time (2026-12-01 08:30, or ISO 8601 with an offset)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return int(parsed.timestamp() * 1000)
