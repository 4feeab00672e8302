"""The shared transport policy: Retry-After, backoff, token bucket, timeouts, scrubbing."""

from __future__ import annotations

import random
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kmsg_cli.providers import http_client
from kmsg_cli.providers.http import TokenBucket
from kmsg_cli.providers.http_client import lazy_client, make_client
from kmsg_cli.providers.http_outcomes import RetryPolicy, parse_retry_after
from kmsg_cli.providers.scrub import scrub

from .conftest import NOW_MS, FakeClock


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("99999", 3600.0),
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_retry_after_seconds_and_http_date_capped_net6(value, expected) -> None:
    assert parse_retry_after(value, NOW_MS) == expected


def test_backoff_full_jitter_capped_net11() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.initial, policy.factor, policy.cap) == (3, 1.0, 2.0, 30.0)
    rng = random.Random(1)
    for i in range(10):
        assert 0 <= policy.backoff(i, rng) <= min(30.0, 2.0**i)
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_token_bucket_sleeps_through_the_clock_net12() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock)
    for _ in range(4):
        bucket.acquire()
    assert clock.sleeps == [0.5, 0.5]  # burst of 2, then one token every 0.5 s


def test_token_bucket_with_a_clock_that_never_moves() -> None:
    class Frozen(FakeClock):
        def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)

    clock = Frozen()
    bucket = TokenBucket(1.0, clock)
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == [1.0, 1.0]


def test_client_has_explicit_timeouts_net1() -> None:
    client = make_client(timeout_seconds=12)
    try:
        assert client.timeout.connect == 5.0 and client.timeout.read == 12
    finally:
        client.close()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[int]:
    """A plain-HTTP server on 127.0.0.1; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_tls_verifies_always_and_reads_the_ca_bundle_only_for_tls(
    plain_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[ssl.SSLContext] = []

    def spy() -> ssl.SSLContext:
        made.append(real())
        return made[-1]

    real = http_client.tls_context
    monkeypatch.setattr(http_client, "tls_context", spy)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # straight to 127.0.0.1
    client = make_client()
    try:
        (context,) = made
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] == 0
        assert client.get(f"http://127.0.0.1:{plain_server}/").text == "ok"
        assert context.cert_store_stats()["x509_ca"] == 0  # plain http: no bundle read
        with pytest.raises(httpx.ConnectError):  # the server does not speak TLS
            client.get(f"https://127.0.0.1:{plain_server}/")
        assert context.cert_store_stats()["x509_ca"] > 0  # read before the handshake
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    finally:
        client.close()


def test_lazy_client_is_one_per_process() -> None:
    made: list[httpx.Client] = []

    def factory() -> httpx.Client:
        made.append(httpx.Client())
        return made[-1]

    get = lazy_client(factory)
    assert made == []
    assert get() is get() and len(made) == 1
    made[0].close()


def test_scrub_masks_secrets_numbers_and_markup_pii19() -> None:
    text = scrub("<b>key S3CR3T</b> to 010-1234-5678 and 01098765432, code 1062", {"S3CR3T"})
    assert text == "key **** to ****5678 and ****5432, code 1062"
    assert len(scrub("x" * 500)) == 120
