"""`status --watch` and `send --wait`: following messages through core/watch.py with the
tracking options and hook delivery `kmsg track` uses (the options are in _common)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kmsg_cli.core.models import Status
from kmsg_cli.core.times import duration_ms
from kmsg_cli.errors import ConfigError, ExitCode, Failed, InputError

if TYPE_CHECKING:
    from kmsg_cli.context import AppContext
    from kmsg_cli.core.watch import Followed


def follow(
    app_ctx: AppContext, message_ids: list[str], interval: float, timeout: str
) -> tuple[list[Followed], int, Failed | None]:
    """Follow to a final state: exit 0 all DELIVERED, 1 one FAILED or CANCELLED, 75 one still
    open at the timeout or UNKNOWN (tracking gave up); the error to report when not 0."""
    from kmsg_cli.commands.hooks_cmd import deliver, owner
    from kmsg_cli.commands.track import _jitter
    from kmsg_cli.core.track import TrackOptions
    from kmsg_cli.core.watch import follow as follow_

    window = duration_ms(timeout)
    if window <= 0:
        raise InputError("--timeout must be more than 0")
    out = app_ctx.output
    store = app_ctx.store(existing=True)
    t = app_ctx.settings.tracking
    who = owner()
    opts = TrackOptions(
        owner=who,
        concurrency=t.concurrency,
        not_kakao_user=t.not_kakao_user_codes,
        jitter=_jitter,
    )

    def changed(f: Followed) -> None:
        if f.record is not None:
            via = (
                f" (fallback {f.record.message_id})" if f.record.message_id != f.message_id else ""
            )
            out.info(f"{f.message_id}{via}: {f.record.status.value}")

    warned: list[str] = []

    def after_round() -> None:
        try:
            deliver(app_ctx, who)
        except ConfigError as exc:  # the events wait; the watch goes on
            if not warned:
                warned.append(exc.message)
                out.warn(f"hooks: {exc.message}; events not delivered")

    followed = follow_(
        app_ctx.env(),
        store,
        message_ids,
        opts,
        interval_s=interval,
        timeout_s=window / 1000,
        after_round=after_round,
        on_change=changed,
    )
    return followed, *_verdict(followed, timeout)


def _verdict(followed: list[Followed], timeout: str) -> tuple[int, Failed | None]:
    open_ = [f for f in followed if f.record is None or not f.final]
    unknown = [f for f in followed if f.record and f.record.status is Status.UNKNOWN]
    if open_ or unknown:
        f = (open_ or unknown)[0]
        state = f.record.status.value if f.record else "not recorded"
        why = f"not final after {timeout}" if open_ else "tracking gave up"
        return ExitCode.TEMPFAIL, Failed(
            f"{f.message_id}: {state}: {why}",
            exit_code=ExitCode.TEMPFAIL,
            code="watch_timeout",
            hint="`kmsg track` keeps following it",
        )
    failed = [f for f in followed if f.record and f.record.status is not Status.DELIVERED]
    if failed:
        f = failed[0]
        r = f.record
        assert r is not None
        detail = (
            f" {r.provider_status_code}: {r.provider_status_message}"
            if r.provider_status_code
            else ""
        )
        return ExitCode.FAILED, Failed(
            f"{f.message_id}: {r.status.value}{detail}",
            exit_code=ExitCode.FAILED,
            code="not_delivered",
        )
    return ExitCode.OK, None
