"""What an HTTP exchange with a provider came to (docs/providers.md#transport-rules).

The transport table for a received status (``classify_status``), for a transport exception
(``classify_exception``) and for an unreadable 2xx body (``json_body``): on a send, whatever may
have reached the provider is ``UnknownOutcome``, never retried; what provably did not, or was told
to "try later", is retryable. Plus ``Retry-After`` and the in-process retry policy (NET-6, NET-11).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from kmsg_cli.errors import (
    AuthError,
    InvalidRequest,
    ProviderError,
    RateLimited,
    Unavailable,
    UnknownOutcome,
)
from kmsg_cli.providers.scrub import scrub

E = TypeVar("E", bound=ProviderError)
RETRY_AFTER_CAP = 3600.0  # a Retry-After beyond an hour is clamped: the queue reschedules anyway
_NO_AUTO_RETRY = "_kmsg_no_auto_retry"


def parse_retry_after(value: str | None, now_ms: int, cap: float = RETRY_AFTER_CAP) -> float | None:
    """``Retry-After`` as seconds (NET-6): delta-seconds or an HTTP-date, clamped to [0, cap]."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.timestamp() - now_ms / 1000
    return min(max(delta, 0.0), cap)


@dataclass(frozen=True)
class RetryPolicy:
    """3 attempts in total, 1 s initial, x2, cap 30 s, full jitter (NET-11)."""

    attempts: int = 3
    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial < 0 or self.factor < 1 or self.cap < 0:
            raise ValueError("retry policy: attempts >= 1, initial >= 0, factor >= 1, cap >= 0")

    def backoff(self, retry_index: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.initial * self.factor**retry_index))


def no_auto_retry(err: E) -> E:
    """Mark a retryable-class error as not to be repeated inside this call (e.g. IWINV SMS 11)."""
    setattr(err, _NO_AUTO_RETRY, True)  # noqa: B010 - a marker, not part of the error's API
    return err


def auto_retryable(err: ProviderError) -> bool:
    return isinstance(err, RateLimited | Unavailable) and not getattr(err, _NO_AUTO_RETRY, False)


ErrorDescriber = Callable[[httpx.Response], tuple[str | None, str | None]]


def describe_json_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """Default (vendor code, vendor message) from a JSON error body; (None, None) otherwise."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = next(
        (body[k] for k in ("errorCode", "code", "resultCode", "result_code") if k in body), None
    )
    text = next((body[k] for k in ("errorMessage", "message") if k in body), None)
    return (None if code is None else str(code)), (None if text is None else str(text))


def classify_status(
    response: httpx.Response,
    *,
    send: bool,
    provider_id: str,
    now_ms: int,
    describe: ErrorDescriber = describe_json_error,
    secrets: frozenset[str] = frozenset(),
) -> ProviderError | None:
    """The transport table (docs/providers.md#transport-rules) for a received response. None for
    2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    code, text = describe(response)
    detail = f": {scrub(text, secrets, 80)}" if text else ""
    msg = f"{provider_id}: HTTP {status}" + (f" {code}" if code else "") + detail
    kw: dict[str, Any] = {"provider_id": provider_id, "http_status": status, "vendor_code": code}
    if status in (401, 403):
        return AuthError(msg, **kw)
    if status == 429:
        after = parse_retry_after(response.headers.get("Retry-After"), now_ms)
        return RateLimited(msg, retry_after=after, **kw)
    if status in (408, 425, 503):
        err = Unavailable(msg, **kw)
        after = parse_retry_after(response.headers.get("Retry-After"), now_ms)
        setattr(err, "retry_after", after)  # noqa: B010 - 503 may say when to come back
        return err
    if 400 <= status < 500:
        return InvalidRequest(msg, **kw)
    if send:
        return UnknownOutcome(msg + " (the message may have been accepted)", **kw)
    return no_auto_retry(Unavailable(msg, **kw))  # a 5xx is not a "try later"


_NOT_REACHED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


def classify_exception(exc: httpx.HTTPError, *, send: bool, provider_id: str) -> ProviderError:
    """Transport exceptions: connect-phase failures never reached the provider; anything after the
    request was written is ambiguous on a send."""
    name = type(exc).__name__
    if isinstance(exc, _NOT_REACHED):
        return Unavailable(f"{provider_id}: could not connect ({name})", provider_id=provider_id)
    if send:
        return UnknownOutcome(
            f"{provider_id}: {name} after the request was sent"
            " (the message may have been accepted)",
            provider_id=provider_id,
        )
    return no_auto_retry(Unavailable(f"{provider_id}: {name}", provider_id=provider_id))


def json_body(response: httpx.Response, *, send: bool, provider_id: str) -> Any:
    """The parsed 2xx body; unparseable: ``UnknownOutcome`` on a send, else ``Unavailable``."""
    try:
        return json.loads(response.content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        if send:
            raise UnknownOutcome(
                f"{provider_id}: HTTP {response.status_code} with an unreadable body"
                " (the message may have been accepted)",
                provider_id=provider_id,
                http_status=response.status_code,
            ) from None
        raise no_auto_retry(
            Unavailable(
                f"{provider_id}: HTTP {response.status_code} with an unreadable body",
                provider_id=provider_id,
                http_status=response.status_code,
            )
        ) from None
