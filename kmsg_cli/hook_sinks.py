"""The two delivery-event targets of [hooks] (docs/hooks.md): a command given the event on stdin,
and a webhook given it as a signed POST. Each raises HookFailed with a line that never holds the
secret; the secret is resolved when the sinks are built, so a missing one is a config error (78)
before any event is claimed."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from kmsg_cli import config
from kmsg_cli.core import hooks
from kmsg_cli.core.hooks import HookFailed, Sink

if TYPE_CHECKING:
    import httpx

    from kmsg_cli.core.ports import Clock


class CommandSink:
    """``on_final``: split like a shell would (no shell runs it: write ``sh -c '...'`` for
    pipes), the event JSON on stdin, success only on exit status 0 within the timeout."""

    def __init__(self, command: str, timeout_s: float) -> None:
        self.argv = shlex.split(command)
        self.timeout_s = timeout_s

    def deliver(self, event_id: str, raw: bytes) -> int | None:
        if not self.argv:
            raise HookFailed("hooks.on_final is empty")
        try:
            done = subprocess.run(
                self.argv,
                input=raw,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.timeout_s,
                check=False,
                env=None,
            )
        except subprocess.TimeoutExpired:
            raise HookFailed(f"on_final timed out after {self.timeout_s:g} s") from None
        except OSError as exc:
            raise HookFailed(f"on_final could not run {self.argv[0]!r}: {exc.strerror}") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            why = f": {tail[0][:200]}" if tail else ""
            raise HookFailed(f"on_final exited {done.returncode}{why}", done.returncode)
        return 0


class WebhookSink:
    """``webhook_url``: POST the raw JSON body with its HMAC-SHA256 signature, event id and
    timestamp; any 2xx is delivered, anything else (or no answer in time) is retried."""

    def __init__(
        self,
        url: str,
        secret: str,
        timeout_s: float,
        client: Callable[[], httpx.Client],
        clock: Clock,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.client = client
        self.clock = clock

    def deliver(self, event_id: str, raw: bytes) -> int | None:
        import httpx

        headers = hooks.webhook_headers(self.secret, event_id, raw, self.clock.now_ms())
        try:
            response = self.client().post(
                self.url, content=raw, headers=headers, timeout=self.timeout_s
            )
        except httpx.TimeoutException:
            raise HookFailed(f"webhook: no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise HookFailed(f"webhook: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise HookFailed(f"webhook answered HTTP {response.status_code}")
        return None


def build(
    settings: config.HooksConfig, client: Callable[[], httpx.Client], clock: Clock
) -> dict[str, Sink]:
    sinks: dict[str, Sink] = {}
    if settings.on_final:
        sinks[hooks.COMMAND] = CommandSink(settings.on_final, settings.timeout_seconds)
    if settings.webhook_url and settings.webhook_secret:
        # a ConfigError names hooks.webhook_secret and the variable or file, never the value
        secret = config.resolve_secret(settings.webhook_secret, "hooks.webhook_secret")
        sinks[hooks.WEBHOOK] = WebhookSink(
            settings.webhook_url, secret, settings.timeout_seconds, client, clock
        )
    return sinks
