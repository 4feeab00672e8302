"""One transport policy for every HTTP provider (docs/providers.md#transport-rules).

The pooled client is in ``http_client``; what a status, a transport error or a body means, and
the retry policy, in ``http_outcomes``. Here, each request's life:

- Every attempt also has a TOTAL deadline, ``deadline_seconds(timeout)`` = 3 x the timeout, capped
  at 60 s but never below the timeout itself (10 s -> 30 s). The timeouts bound each connect and
  each read; a server trickling a byte a second passes every read and could hold a command for
  minutes. The response is streamed and its arrival time checked on a monotonic clock: the
  headers, then every chunk of the body, must be in before the deadline, else the attempt fails
  like a read timeout. Worst case: the deadline plus the one read in flight when it passed; headers
  that themselves trickle are only caught once complete (httpx reads them in one call).
- ``Transport.call`` performs one logical request: rate limit (token bucket, NET-12), send, classify
  the HTTP outcome, parse, and retry only what provably did not reach the provider or was told to
  "try later" (connect errors, 408/425, 429, 503, explicit vendor try-later codes). A read timeout,
  a missed deadline, a 5xx or an unparseable 2xx on a *send* is ``UnknownOutcome`` and is never
  retried (NET-3, NET-4); on a read-only call they are ``Unavailable``, not retried in-process.
- Every response's ``Date`` header (errors included) updates ``Transport.clock_offset_ms``, the
  provider's clock minus ours, so lost sends are searched for by its own time (``providers.skew``).
- Errors carry the HTTP status and the vendor code in separate fields (NET-7) and short messages
  scrubbed of secrets and phone numbers (PII-19).
- The ``kmsg.http`` logger (shown by ``-v``: docs/output.md#verbose-output) gets one line per
  request (method, path, status, milliseconds, the provider's request id) and per retry decision;
  at DEBUG (``-vv``) the request and response bodies, secrets and phone numbers masked.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from kmsg_cli.core.ports import Clock
from kmsg_cli.errors import ProviderError, RateLimited, Unavailable, UnknownOutcome
from kmsg_cli.providers.http_client import DEFAULT_TIMEOUT, request_timeout
from kmsg_cli.providers.http_outcomes import (
    ErrorDescriber,
    RetryPolicy,
    auto_retryable,
    classify_exception,
    classify_status,
    describe_json_error,
    no_auto_retry,
)
from kmsg_cli.providers.scrub import CREDENTIAL, MASK, mask_body, scrub
from kmsg_cli.providers.skew import offset_from_date

T = TypeVar("T")
DEADLINE_FACTOR = 3.0  # a whole answer may take this many read timeouts ...
DEADLINE_CAP = 60.0  # ... but not more than a minute, unless the read timeout alone is longer
log = logging.getLogger("kmsg.http")
# response headers that carry a provider's or its CDN's id for the request, first found wins
REQUEST_ID_HEADERS = (
    "x-request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-amz-cf-id",
    "request-id",
    "x-correlation-id",
    "cf-ray",
)


def deadline_seconds(timeout_seconds: float) -> float:
    """The total time one attempt may take, connect to last body byte (see the module doc)."""
    return max(timeout_seconds, min(DEADLINE_FACTOR * timeout_seconds, DEADLINE_CAP))


class _DeadlinePassed(Exception):
    """The answer was not complete by the attempt's deadline."""


class _Deadline:
    def __init__(self, seconds: float, monotonic: Callable[[], float]) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self.end = monotonic() + seconds

    def check(self) -> None:
        if self.monotonic() > self.end:
            raise _DeadlinePassed


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that raises ``_DeadlinePassed`` for a chunk arriving after the deadline."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: _Deadline) -> None:
        self.inner = inner
        self.deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.deadline.check()
            yield chunk

    def close(self) -> None:
        self.inner.close()


# --------------------------------------------------------------------------- requests


@dataclass
class Req:
    """A request as data: what ``send`` performs and what ``preview`` shows (secrets masked)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    auth: httpx.Auth | None = None
    masked_headers: tuple[str, ...] = ()

    def preview(self, provider_id: str) -> dict[str, Any]:
        headers = {k: (MASK if k in self.masked_headers else v) for k, v in self.headers.items()}
        if self.auth is not None:
            headers["Authorization"] = MASK
        doc: dict[str, Any] = {"provider": provider_id, "method": self.method, "url": self.url}
        doc["headers"] = headers
        if self.params:
            doc["params"] = self.params
        if self.json is not None:
            doc["body"] = self.json
        elif self.data is not None:
            doc["body"] = dict(self.data)
        if self.files:
            doc["files"] = {
                k: f"<{v[0]}, {len(v[1])} bytes, {v[2]}>" for k, v in self.files.items()
            }
        return doc


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def request_id(response: httpx.Response) -> str | None:
    return next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None)


class TokenBucket:
    """Per-provider rate limit: ``rate`` tokens per second, burst ``max(1, rate)``; clock-injected.

    Per process only: two kmsg processes each get the full rate (NET-12)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.clock = clock
        self.tokens = self.capacity
        self.last = clock.now_ms() / 1000

    def acquire(self) -> None:
        now = self.clock.now_ms() / 1000
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return
        wait = (1 - self.tokens) / self.rate
        self.clock.sleep(wait)
        # the token that accrued while waiting is spent now; account as if time moved
        self.tokens = 0.0
        self.last = max(self.last, now) + wait


# --------------------------------------------------------------------------- transport


class Transport:
    """A provider's view of the shared client: timeout, rate limit, retries, secret scrubbing."""

    def __init__(
        self,
        provider_id: str,
        http: Callable[[], httpx.Client],
        clock: Clock,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT,
        rate_per_second: float | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        describe: ErrorDescriber = describe_json_error,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider_id = provider_id
        self.http = http
        self.clock = clock  # wall time: signatures, Retry-After dates, the clock offset; sleeps
        self.monotonic = monotonic  # the deadline: immune to the wall clock being set
        self.timeout = request_timeout(timeout_seconds)
        self.deadline = deadline_seconds(timeout_seconds)
        self.limiter = TokenBucket(rate_per_second, clock) if rate_per_second else None
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.describe = describe
        self.secrets: set[str] = set()
        self.attempts = 0  # requests actually made, for tests and diagnostics
        self.clock_offset_ms: int | None = None  # provider's Date - our clock, latest response

    def secret(self, value: str) -> str:
        """Register a resolved secret so no error text can carry it; returns it."""
        self.secrets.add(value)
        return value

    def scrub(self, text: object, limit: int = 120) -> str:
        return scrub(text, frozenset(self.secrets), limit)

    def call(self, req: Req, *, send: bool, parse: Callable[[httpx.Response], T]) -> T:
        """Perform ``req`` and return ``parse(response)``; ``parse`` sees 2xx responses only."""
        last = self.policy.attempts - 1
        for attempt in range(self.policy.attempts):
            try:
                return parse(self._once(req, send))
            except ProviderError as err:
                if not auto_retryable(err):
                    self._decided(req, err, _why_not_retried(err))
                    raise
                if attempt == last:
                    self._decided(req, err, f"not retried: {attempt + 1} attempts made")
                    raise
                delay = self._delay(err, attempt)
                if delay is None:
                    self._decided(req, err, "not retried here: Retry-After is too long")
                    raise
                self._decided(
                    req, err, f"retry {attempt + 2}/{self.policy.attempts} in {delay:.1f} s"
                )
                self.clock.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, req: Req, send: bool) -> httpx.Response:
        if self.limiter is not None:
            self.limiter.acquire()
        client = self.http()
        request = client.build_request(
            req.method,
            req.url,
            headers=req.headers,
            params=req.params,
            json=req.json,
            data=req.data,
            files=req.files,
            timeout=self.timeout,
        )
        self.attempts += 1
        verbose = log.isEnabledFor(logging.INFO)
        if verbose:
            self._log_request(req, request)
            started = time.perf_counter()
        try:
            response = self._receive(client, request, req.auth, send)
        except ProviderError as err:
            if verbose:
                ms = (time.perf_counter() - started) * 1000
                log.info(
                    "http: %s %s %s: no answer after %.0f ms: %s",
                    self.provider_id, request.method, request.url.path, ms, err.message,
                )  # fmt: skip
            raise
        if verbose:
            self._log_response(request, response, (time.perf_counter() - started) * 1000)
        error = classify_status(
            response,
            send=send,
            provider_id=self.provider_id,
            now_ms=self.clock.now_ms(),
            describe=self.describe,
            secrets=frozenset(self.secrets),
        )
        if error is not None:
            raise error
        return response

    def _receive(
        self, client: httpx.Client, request: httpx.Request, auth: httpx.Auth | None, send: bool
    ) -> httpx.Response:
        """The whole response, read within the deadline; transport failures classified."""
        deadline = _Deadline(self.deadline, self.monotonic)
        try:
            if auth is None:
                response = client.send(request, stream=True)
            else:
                response = client.send(request, auth=auth, stream=True)
        except httpx.HTTPError as exc:
            raise classify_exception(exc, send=send, provider_id=self.provider_id) from None
        try:
            self._note_clock(response)
            deadline.check()
            if isinstance(response.stream, httpx.SyncByteStream):  # always, on a sync client
                response.stream = _DeadlineStream(response.stream, deadline)
            response.read()
        except _DeadlinePassed:
            raise self._late(deadline.seconds, send) from None
        except httpx.HTTPError as exc:
            raise classify_exception(exc, send=send, provider_id=self.provider_id) from None
        finally:
            response.close()
            # httpx binds the body stream to its response, a reference cycle that keeps both
            # bodies (a send's request and answer: hundreds of KB) until the cyclic collector
            # runs; the body is read (``content``), so the stream is let go at once
            response.stream = httpx.ByteStream(b"")
        return response

    def _log_request(self, req: Req, request: httpx.Request) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        doc = req.preview(self.provider_id)
        doc["headers"] = {
            k: (MASK if CREDENTIAL.search(k) else v) for k, v in doc["headers"].items()
        }
        doc.pop("url", None)
        doc["path"] = request.url.path
        text = json.dumps(doc, ensure_ascii=False, default=str)
        log.debug("http: request %s", mask_body(text, self.secrets))

    def _log_response(self, request: httpx.Request, response: httpx.Response, ms: float) -> None:
        log.info(
            "http: %s %s %s -> %d in %.0f ms (request id %s)",
            self.provider_id, request.method, request.url.path, response.status_code, ms,
            request_id(response) or "-",
        )  # fmt: skip
        if log.isEnabledFor(logging.DEBUG):
            body = response.content.decode("utf-8", "replace")
            log.debug("http: response %s", mask_body(body, self.secrets))

    def _decided(self, req: Req, err: ProviderError, decision: str) -> None:
        log.info(
            "retry: %s %s %s: %s (%s): %s",
            self.provider_id, req.method, httpx.URL(req.url).path, err.code, err.message, decision,
        )  # fmt: skip

    def _note_clock(self, response: httpx.Response) -> None:
        offset = offset_from_date(response.headers.get("Date"), self.clock.now_ms())
        if offset is not None:
            self.clock_offset_ms = offset

    def _late(self, seconds: float, send: bool) -> ProviderError:
        """A missed deadline is a read timeout: the request was written, the answer is not in."""
        what = f"{self.provider_id}: no complete answer within the {seconds:g} s deadline"
        if send:
            return UnknownOutcome(
                what + " (the message may have been accepted)", provider_id=self.provider_id
            )
        return no_auto_retry(Unavailable(what, provider_id=self.provider_id))

    def _delay(self, err: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt; None when waiting in-process is pointless."""
        after: float | None = getattr(err, "retry_after", None)
        if after is not None:
            return (
                after if after <= self.policy.cap else None
            )  # too long: let the caller reschedule
        return self.policy.backoff(attempt, self.rng)


def _why_not_retried(err: ProviderError) -> str:
    if isinstance(err, UnknownOutcome):
        return "not retried: it may have been accepted (settled later, never resent blind)"
    if isinstance(err, RateLimited | Unavailable):
        return "not retried in this call"
    return "not retried: repeating it cannot help"


def form(fields: Mapping[str, object]) -> dict[str, str]:
    """Form fields as strings, dropping None."""
    return {k: str(v) for k, v in fields.items() if v is not None}
