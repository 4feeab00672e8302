"""The provider's clock versus ours.

``clock_offset_ms`` (provider time - our time) comes from the ``Date`` header of the provider's
latest response: every time we hold (``since_ms``, ``requested_at``) was read from our clock, while
the provider files its messages by its own.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime


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
