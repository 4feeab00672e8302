"""`kmsg providers`: list configured providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli import config
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.commands._complete import complete_provider_ids
from kmsg_cli.core.models import MessageType
from kmsg_cli.core.preflight import PLACEHOLDER_SENDER
from kmsg_cli.core.templates import Lookup
from kmsg_cli.errors import ConfigError, KmsgError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext
    from kmsg_cli.output import Output

HELP = """Configured providers: list, doctor, balance.

Examples:

\b
  kmsg providers list
  kmsg providers doctor
  kmsg providers balance --json
"""
app = typer.Typer(help=HELP, no_args_is_help=True)


@command(app, "list", formats=True)
def list_(ctx: typer.Context) -> None:
    """List configured providers and how routing uses them.

    Shows what each provider can send; secrets are masked.

    Examples:

    \b
      kmsg providers list
      kmsg providers list --json
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    settings = app_ctx.settings
    caps = app_ctx.capabilities()
    routing = settings.routing
    rows: list[dict[str, Any]] = []
    for pid, cfg in settings.providers.items():
        roles = [
            f"by_type.{t}"
            for t, ids in routing.by_type.items()
            if pid == ids or (isinstance(ids, list) and pid in ids)
        ]
        if routing.default == pid:
            roles.insert(0, "default")
        secrets = {key: config.masked(value) for key, value in sorted(cfg.secrets().items())}
        sender = cfg.default_from
        c = caps[pid]
        rows.append(
            {
                "id": pid,
                "type": cfg.type,
                "types": [t.value for t in MessageType if t in c.types],
                "max_batch": cfg.max_batch or c.max_batch,
                "schedule_window": list(c.schedule_window) if c.schedule_window else None,
                "native_failover": c.native_failover,
                "status": c.status,
                "templates": c.templates,
                "senders": c.senders,
                "template_admin": sorted(c.template_admin),
                "routing": roles,
                "default_from": sender or None,  # the sender's own number: never masked
                "secrets": secrets,
            }
        )
    doc = {
        "providers": rows,
        "strategy": routing.strategy,
        "embedded_default": app_ctx.using_default,
    }

    def human(_console: Console) -> None:
        out.table(
            ("id", "type", "can send", "routing", "secrets"),
            [
                (
                    r["id"],
                    r["type"],
                    " ".join(r["types"]),
                    ", ".join(r["routing"]) or "-",
                    ", ".join(f"{k}={v}" for k, v in r["secrets"].items()) or "-",
                )
                for r in rows
            ],
        )

    out.emit(doc, human, data=True)


NEXT_STEP = {
    "auth": "check the provider's keys in the config (and, for IWINV/Aligo, that this machine's IP is registered)",
    "unavailable": "the provider could not be reached: check base_url and the network, then retry",
    "rate_limited": "the provider is rate limiting: wait and retry",
    "insufficient_balance": "top up the account",
    "invalid": "the provider refused the request: check the account settings",
    "config": "fix the config file, then `kmsg config validate`",
}


def _selected(app_ctx: AppContext, ids: list[str]) -> list[str]:
    known = list(app_ctx.settings.providers)
    for pid in ids:
        if pid not in known:
            raise ConfigError(f"no provider {pid!r} configured (have: {', '.join(known)})")
    return ids or known


def _problem(pid: str, exc: KmsgError) -> dict[str, Any]:
    return {
        "provider": pid,
        "ok": False,
        "reason": exc.message,
        "next": exc.hint or NEXT_STEP.get(exc.code, "see `kmsg providers list`"),
        "code": exc.code,
        "exit_code": exc.exit_code,
    }


@command(app, "doctor")
def doctor(
    ctx: typer.Context,
    provider: Annotated[
        list[str],
        typer.Option(
            "--provider",
            metavar="ID",
            help="Only these provider ids.",
            autocompletion=complete_provider_ids,
        ),
    ] = [],  # noqa: B006
    alimtalk: Annotated[
        str | None,
        typer.Option(
            "--alimtalk",
            metavar="CODE",
            help="Preflight this AlimTalk template on the provider AlimTalk is routed to.",
        ),
    ] = None,
    count: Annotated[
        int,
        typer.Option(
            "--count", metavar="N", min=1, help="With --alimtalk: recipients, for the cost."
        ),
    ] = 1,
    var: Annotated[
        list[str],
        typer.Option(
            "--var", metavar="KEY=VALUE", help="With --alimtalk: check these variables too."
        ),
    ] = [],  # noqa: B006
    sender: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="NUMBER", help="With --alimtalk: the sender (default: the config's)."
        ),
    ] = None,
) -> int:
    """Check each provider's config, secrets and credentials.

    The config must be complete and the secrets present; then one authenticated read-only call.

    With --alimtalk CODE, the preflight of one AlimTalk send instead: the Kakao channel, the
    template's status and variables, the sender, and the balance for --count recipients; one
    line per check, exit 0 only when all pass.

    Examples:

    \b
      kmsg providers doctor
      kmsg providers doctor --provider solapi
      kmsg providers doctor --alimtalk ORDER_SHIPPED --count 5000 --var name=김철수
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    if alimtalk is not None:
        return _preflight(app_ctx, provider, alimtalk, count, var, sender)
    results = []
    for pid in _selected(app_ctx, provider):
        try:
            app_ctx.provider(pid).check()
            results.append({"provider": pid, "ok": True, "warnings": _gaps(app_ctx, pid)})
        except KmsgError as exc:
            results.append(_problem(pid, exc))
    return _finish(out, {"providers": results}, results, _doctor_lines)


def _preflight(
    app_ctx: AppContext,
    ids: list[str],
    code: str,
    count: int,
    pairs: list[str],
    sender: str | None,
) -> int:
    """`doctor --alimtalk`: core/preflight.py preflight on the one provider that would send it."""
    from kmsg_cli.commands.send import parse_vars
    from kmsg_cli.core.preflight import Preflight, preflight
    from kmsg_cli.core.routing import route

    if len(ids) > 1:
        raise UsageError("--alimtalk checks one provider: pass --provider once")
    env = app_ctx.env()
    routed, _ = route(
        MessageType.ALIMTALK,
        explicit=ids[0] if ids else None,
        by_type=env.routing_by_type,
        default=env.routing_default,
        strategy=env.routing_strategy,
        capabilities=env.capabilities,
        advance=lambda _k, _n: 0,
    )
    pid = routed[0]
    cfg = app_ctx.settings.providers[pid]
    key = app_ctx.capabilities()[pid].channel_key
    checks = preflight(
        Preflight(
            provider_id=pid,
            provider=app_ctx.provider(pid),
            code=code,
            channel_key=key,
            channel_set=bool(key and getattr(cfg, key, None)),
            sender=sender or cfg.default_from,
            variables=parse_vars(pairs, None) if pairs else None,
            count=count,
            price=env.prices.get(MessageType.ALIMTALK.value),
        ),
        env.templates or Lookup(lambda: None, app_ctx.provider),
    )
    rows = [c.as_dict() for c in checks]
    doc = {"preflight": {"provider": pid, "template": code, "count": count, "checks": rows}}

    def lines(console: Console, results: list[dict[str, Any]]) -> None:
        console.print(f"AlimTalk {code} via {pid}, {count} recipient(s):", markup=False)
        for r in results:
            if r["ok"]:
                console.print(f"  {r['check']}: ok, {r['detail']}", markup=False)
            else:
                console.print(
                    f"  {r['check']}: FAILED\n    reason: {r['reason']}\n    next: {r['next']}",
                    markup=False,
                )

    return _finish(app_ctx.output, doc, rows, lines, what="check(s) failed")


def _gaps(app_ctx: AppContext, pid: str) -> list[str]:
    cfg = app_ctx.settings.providers[pid]
    caps = app_ctx.capabilities()[pid]
    gaps = []
    if not cfg.default_from:
        gaps.append("no default sender number: every send needs --from")
    key = caps.channel_key
    if MessageType.ALIMTALK in caps.types and key and not getattr(cfg, key, None):
        gaps.append(f"no {key}: no Kakao channel, AlimTalk cannot be sent")
    if cfg.type == "iwinv" and not getattr(cfg, "sms_api_key", None):
        gaps.append("no sms_api_key/sms_auth_key: SMS cannot be sent")
    if cfg.type == "aligo" and getattr(cfg, "test_mode", False):
        gaps.append("test_mode is on: Aligo accepts messages but never delivers them")
    return gaps + _catalog_gaps(app_ctx, pid, cfg)


def _catalog_gaps(app_ctx: AppContext, pid: str, cfg: Any) -> list[str]:
    """Warnings from the template/sender cache of `kmsg templates sync`, and the placeholder."""
    from kmsg_cli.core.templates import APPROVED, check_sender

    gaps = []
    sender = cfg.default_from
    if sender == PLACEHOLDER_SENDER and cfg.type != "mock":
        gaps.append(
            f"default sender {sender} is the example number of the config template: "
            "set the number registered with the provider"
        )
    if not app_ctx.db_path.exists():
        return gaps
    store = app_ctx.store()
    try:
        check_sender(sender, store.cached_senders(pid), pid)
    except KmsgError as exc:
        gaps.append(f"default {exc.message} (as of `kmsg templates sync`)")
    for t in store.cached_templates(pid):
        if t.status != APPROVED:
            gaps.append(f"template {t.code} is {t.status} ({t.raw_status or '-'}): not sendable")
    return gaps


def _doctor_lines(console: Console, results: list[dict[str, Any]]) -> None:
    for r in results:
        if r["ok"]:
            console.print(f"{r['provider']}: ok", markup=False)
            for warning in r.get("warnings", []):
                console.print(f"  warning: {warning}", markup=False)
        else:
            console.print(
                f"{r['provider']}: NOT READY\n  reason: {r['reason']}\n  next: {r['next']}",
                markup=False,
            )


def _finish(
    out: Output,
    doc: dict[str, Any],
    results: list[dict[str, Any]],
    lines: Callable[[Console, list[dict[str, Any]]], None],
    *,
    what: str = "provider(s) not ready",
) -> int:
    """Same exit code in text and JSON modes (CLI-2): the first failing result's."""
    failed = [r for r in results if not r["ok"]]
    code = failed[0]["exit_code"] if failed else 0
    if failed and out.json_mode:
        first = failed[0]
        out.fail(
            KmsgError(f"{len(failed)} {what}", hint=first["next"]),
            doc,
            exit_code=code,
        )
        return code
    out.emit(doc, lambda c: lines(c, results), data=True)
    return code


@command(app, "balance")
def balance(
    ctx: typer.Context,
    provider: Annotated[
        list[str],
        typer.Option(
            "--provider",
            metavar="ID",
            help="Only these provider ids.",
            autocompletion=complete_provider_ids,
        ),
    ] = [],  # noqa: B006
) -> int:
    """Show each provider's remaining balance.

    In KRW, or in messages for Aligo.

    Examples:

    \b
      kmsg providers balance
      kmsg providers balance --json
    """
    app_ctx = app_context(ctx)
    results = []
    for pid in _selected(app_ctx, provider):
        try:
            b = app_ctx.provider(pid).balance()
            results.append({"provider": pid, "ok": True, "amount": b.amount, "unit": b.unit})
        except KmsgError as exc:
            results.append(_problem(pid, exc))

    def lines(console: Console, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if r["ok"]:
                console.print(f"{r['provider']}: {r['amount']:,.0f} {r['unit']}", markup=False)
            else:
                console.print(
                    f"{r['provider']}: unavailable\n  reason: {r['reason']}\n  next: {r['next']}",
                    markup=False,
                )

    return _finish(app_ctx.output, {"providers": results}, results, lines)
