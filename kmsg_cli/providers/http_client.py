"""The process's one pooled ``httpx.Client`` (NET-1), built on first use.

Its timeouts are explicit; each provider passes its own ``timeout_seconds`` per request
(``request_timeout``). Its TLS context verifies certificates and host names from the start but
reads the CA bundle at the first TLS handshake: a run that only speaks plain http:// (a local
server) never pays for reading it.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx

from kmsg_cli import __version__

CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 10.0


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
