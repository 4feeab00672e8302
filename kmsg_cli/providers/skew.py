"""The provider's clock versus ours, and search windows that survive the difference.

Settling a send whose answer was lost means searching the provider's records by *its* creation
time, while every time we hold (``since_ms``, ``requested_at``) was read from *our* clock. A window
cut by our clock alone misses the message as soon as the clocks differ by more than its margin, and
a miss reads as "never received" -> the message is sent twice.

- Margins cover every difference the provider itself lets through: SOLAPI refuses a signature dated
  more than 15 minutes from its clock (``RequestTimeTooSkewed``,
  docs/providers.md#solapi-authentication), so a message it created is at most 15 minutes off our
  clock at send time. IWINV signs nothing with a date, so no skew is ever refused; it gets the same
  15 minutes as a generous default, which covers a host without NTP drifting for months (a
  measured offset widens it further, below). Aligo looks up by its own ``mid`` only: no window to
  widen, but its offset is recorded all the same.
- ``clock_offset_ms`` (provider time - our time, from the ``Date`` header of the latest response)
  widens a window towards where the provider's clock is, never narrows it: the offset measured now
  need not be the one at send time (someone may have fixed the clock in between), so the window
  always contains both the unshifted one and the shifted one.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

MINUTE_MS = 60_000
SLACK_MS = MINUTE_MS  # request latency, Date's one-second resolution, dateCreated set a bit later
SOLAPI_SKEW_MS = 15 * MINUTE_MS  # the signature window SOLAPI enforces on its own clock
SOLAPI_MARGIN_MS = SOLAPI_SKEW_MS + SLACK_MS
IWINV_MARGIN_MS = 15 * MINUTE_MS + SLACK_MS  # IWINV refuses no skew: a generous default


def offset_from_date(header: str | None, local_ms: int) -> int | None:
    """Provider time minus ``local_ms`` from an HTTP ``Date`` header (1 s resolution); None when
    the header is missing or unreadable."""
    if not header or not header.strip():
        return None
    try:
        when = parsedate_to_datetime(header.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000) - local_ms


def window(
    start_local: int, end_local: int, offset_ms: int | None, margin_ms: int
) -> tuple[int, int]:
    """[start, end] on the provider's clock for events we stamped between ``start_local`` and
    ``end_local`` on ours: ``margin_ms`` on both sides, plus the offset on the side it points to."""
    shift = offset_ms or 0
    return start_local + min(shift, 0) - margin_ms, end_local + max(shift, 0) + margin_ms


def window_start(local_ms: int, offset_ms: int | None, margin_ms: int) -> int:
    """The earliest provider time of an event we stamped ``local_ms`` (for open-ended searches)."""
    return window(local_ms, local_ms, offset_ms, margin_ms)[0]
