"""One transport policy for every HTTP provider (docs/providers.md#transport-rules).

- ``make_client`` builds the process's one pooled ``httpx.Client`` with explicit timeouts (NET-1);
  each provider passes its own ``timeout_seconds`` per request. Its TLS context verifies
  certificates and host names from the start but reads the CA bundle at the first TLS handshake:
  a run that only speaks plain http:// (a local server) never pays for reading it.
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
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from kmsg_cli import __version__
from kmsg_cli.core.ports import Clock
from kmsg_cli.errors import (
    AuthError,
    InvalidRequest,
    ProviderError,
    RateLimited,
    Unavailable,
    UnknownOutcome,
)
from kmsg_cli.providers.scrub import CREDENTIAL, MASK, mask_body, scrub
from kmsg_cli.providers.skew import offset_from_date

T = TypeVar("T")
E = TypeVar("E", bound=ProviderError)
CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 10.0
DEADLINE_FACTOR = 3.0  # a whole answer may take this many read timeouts ...
DEADLINE_CAP = 60.0  # ... but not more than a minute, unless the read timeout alone is longer
RETRY_AFTER_CAP = 3600.0  # a Retry-After beyond an hour is clamped: the queue reschedules anyway
_NO_AUTO_RETRY = "_kmsg_no_auto_retry"
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
# header names whose values are credentials whatever the adapter declared


def make_client(
    *, timeout_seconds: float = DEFAULT_TIMEOUT, max_connections: int = 20
) -> httpx.Client:
    """The one pooled client per process. Create it lazily, once (see ``lazy_client``)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_seconds, connect=min(CONNECT_TIMEOUT, timeout_seconds)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=10),
        headers={"User-Agent": f"kmsg/{__version__}"},
        follow_redirects=False,
        trust_env=True,
        verify=tls_context(),
    )


def tls_context() -> ssl.SSLContext:
    """What httpx's default ``verify=True`` builds, except that the CA bundle is read on the first
    handshake rather than now: certificates and host names are checked from the start."""
    context = _TrustOnFirstHandshake(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:  # as ssl.create_default_context does
        context.keylog_filename = keylog
    return context


_TRUST_LOCK = threading.Lock()


class _TrustOnFirstHandshake(ssl.SSLContext):
    """An SSLContext that loads its trusted CAs just before its first TLS connection, from the
    places httpx uses: SSL_CERT_FILE, else SSL_CERT_DIR, else certifi's bundle."""

    _trusted = False

    def _load_trust(self) -> None:
        if self._trusted:
            return
        with _TRUST_LOCK:  # the first handshakes may come from several sending threads at once
            if self._trusted:
                return
            if cafile := os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=cafile)
            elif capath := os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=capath)
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._trusted = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_trust()
        return super().wrap_bio(*args, **kwargs)


def lazy_client(factory: Callable[[], httpx.Client] = make_client) -> Callable[[], httpx.Client]:
    """A ``Deps.http`` callable: builds the client on first use and returns the same one after."""
    holder: list[httpx.Client] = []

    def get() -> httpx.Client:
        if not holder:
            holder.append(factory())
        return holder[0]

    return get


def request_timeout(timeout_seconds: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_seconds, connect=min(CONNECT_TIMEOUT, timeout_seconds))


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


# --------------------------------------------------------------------------- retry policy


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


# --------------------------------------------------------------------------- classification

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
