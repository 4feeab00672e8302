"""Asia/Seoul date formatting for provider wire fields
(docs/providers.md#time-zones-and-wire-dates).

Korea has no DST, but the zone comes from ``zoneinfo`` anyway, never from the host's TZ."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")


def kst(epoch_ms: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch milliseconds as naive Asia/Seoul wall-clock text."""
    return datetime.fromtimestamp(epoch_ms / 1000, SEOUL).strftime(fmt)


def iso_kst(epoch_ms: int) -> str:
    """ISO 8601 with the +09:00 offset (SOLAPI ``scheduledDate``)."""
    return datetime.fromtimestamp(epoch_ms / 1000, SEOUL).isoformat(timespec="seconds")


def iso_utc(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")


def parse_kst(
    text: object, fmts: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S")
) -> int | None:
    """A naive provider date read as Asia/Seoul; ISO strings with an offset keep theirs."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    for fmt in fmts:
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=SEOUL).timestamp() * 1000)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SEOUL)
    return int(parsed.timestamp() * 1000)


def parse_iso_utc(text: object) -> int | None:
    """An ISO date from SOLAPI; naive values are taken as UTC [unverified]."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
