"""The total deadline per attempt: a server that keeps every read under the read timeout but never
finishes its answer fails the attempt once the deadline passes — an unknown outcome on a send
(never retried), Unavailable on a read-only call. One test runs against a real trickling socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import respx

from kmsg_cli.errors import Unavailable, UnknownOutcome
from kmsg_cli.providers.http import Req, Transport, deadline_seconds

from .conftest import NOW_MS, FakeClock, msg, solapi

URL = "https://provider.test/api"


@pytest.mark.parametrize(
    ("timeout", "deadline"), [(10, 30), (0.1, 0.3), (20, 60), (30, 60), (90, 90)]
)
def test_deadline_is_three_timeouts_capped_at_a_minute_never_below_the_timeout(
    timeout, deadline
) -> None:
    assert deadline_seconds(timeout) == pytest.approx(deadline)


class Ticks:
    """A monotonic clock that moves one second each time it is read: no real time passes."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def _trickle(chunks: int) -> Iterator[bytes]:
    yield b'{"ok":'
    for _ in range(chunks):
        yield b" "
    yield b"true}"


class _Body(httpx.SyncByteStream):
    def __init__(self, chunks: int) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return _trickle(self.chunks)


def _transport(client: httpx.Client, timeout: float = 2.0) -> Transport:
    # 2 s timeout -> 6 s deadline; Ticks spends one "second" per read of the monotonic clock
    return Transport("p", lambda: client, FakeClock(), timeout_seconds=timeout, monotonic=Ticks())


@pytest.mark.parametrize(("send", "error"), [(True, UnknownOutcome), (False, Unavailable)])
def test_an_answer_still_trickling_at_the_deadline_fails_once(
    client, router: respx.MockRouter, send, error
) -> None:
    route = router.get(URL).mock(return_value=httpx.Response(200, stream=_Body(20)))
    transport = _transport(client)
    with pytest.raises(error) as info:
        transport.call(Req("GET", URL), send=send, parse=lambda r: r.json())
    assert route.call_count == 1 and transport.attempts == 1  # never retried in-process
    assert "6 s deadline" in info.value.message
    assert ("may have been accepted" in info.value.message) is send


def test_an_answer_complete_within_the_deadline_is_parsed(client, router) -> None:
    router.get(URL).mock(return_value=httpx.Response(200, stream=_Body(2)))
    assert _transport(client).call(Req("GET", URL), send=True, parse=lambda r: r.json()) == {
        "ok": True
    }


# --------------------------------------------------------------------------- a real socket


class TrickleServer:
    """127.0.0.1: answers every request with headers (and a Date) at once, then one body byte every
    ``every`` seconds, for at most ``limit`` seconds or until the client hangs up."""

    def __init__(self, date_ms: int, every: float = 0.02, limit: float = 3.0) -> None:
        self.date = format_datetime(datetime.fromtimestamp(date_ms / 1000, UTC), usegmt=True)
        self.every, self.limit = every, limit
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TrickleServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(1.0)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        self.requests += 1
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
            + f"Date: {self.date}\r\n\r\n".encode()
        )
        started = time.monotonic()
        try:
            while time.monotonic() - started < self.limit and not self.stop.is_set():
                conn.sendall(b" ")
                self.stop.wait(self.every)
        except OSError:  # the client gave up and closed the connection
            return


@pytest.mark.parametrize("operation", ["send", "balance"])
def test_a_real_trickling_server_is_cut_at_the_deadline(deps, operation) -> None:
    """timeout 0.1 s -> deadline 0.3 s; the server sends a byte every 20 ms for up to 3 s."""
    with TrickleServer(NOW_MS + 90_000) as server:
        p = solapi(deps, base_url=server.base_url, timeout_seconds=0.1)
        started = time.monotonic()
        with pytest.raises(UnknownOutcome if operation == "send" else Unavailable) as info:
            p.send([msg()]) if operation == "send" else p.balance()
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.0
    assert server.requests == 1 and "0.3 s deadline" in info.value.message
    assert p.clock_offset_ms == 90_000  # the Date of an answer that never completed still counts
