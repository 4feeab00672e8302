"""`kmsg templates`: the providers' registered AlimTalk templates, and the local cache of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kmsg_cli.commands import _template_change
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.commands._complete import complete_provider_ids
from kmsg_cli.core.templates import (
    STATUSES,
    SenderCatalog,
    Template,
    TemplateCatalog,
)
from kmsg_cli.errors import (
    ConfigError,
    InputError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext

HELP = """AlimTalk templates registered with the providers.

Examples:

\b
  kmsg templates list
  kmsg templates show ORDER_SHIPPED
  kmsg templates sync
  kmsg templates create --file welcome.toml --dry-run
"""
app = typer.Typer(help=HELP, no_args_is_help=True)

ProviderOpt = Annotated[
    list[str], typer.Option("--provider", metavar="ID", help="Only these provider ids.")
]
CachedOpt = Annotated[
    bool,
    typer.Option(
        "--cached", help="Read the local cache (`kmsg templates sync`), not the provider."
    ),
]


def catalogs(app_ctx: AppContext, ids: list[str], capability: type) -> list[tuple[str, Any]]:
    """(id, provider) for the selected providers that have ``capability``; a provider named with
    --provider that lacks it is an error (78), the others are skipped."""
    known = list(app_ctx.settings.providers)
    for pid in ids:
        if pid not in known:
            raise ConfigError(f"no provider {pid!r} configured (have: {', '.join(known)})")
    found = []
    for pid in ids or known:
        provider = app_ctx.provider(pid)
        if isinstance(provider, capability):
            found.append((pid, provider))
        elif ids:
            what = "templates" if capability is TemplateCatalog else "sender numbers"
            raise ConfigError(f"provider {pid!r} ({provider.kind}) cannot list its {what}")
    if not found:
        what = "templates" if capability is TemplateCatalog else "sender numbers"
        app_ctx.output.info(f"no configured provider can list its {what}")
    return found


def _listed(app_ctx: AppContext, ids: list[str], cached: bool) -> list[tuple[str, Template]]:
    rows: list[tuple[str, Template]] = []
    for pid, provider in catalogs(app_ctx, ids, TemplateCatalog):
        found = app_ctx.store().cached_templates(pid) if cached else provider.templates()
        rows.extend((pid, t) for t in found)
    return rows


@command(app, "list", formats=True)
def list_(
    ctx: typer.Context,
    provider: ProviderOpt = [],  # noqa: B006
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Only templates in this status: {'|'.join(STATUSES)}.",
        ),
    ] = None,
    cached: CachedOpt = False,
) -> None:
    """List the registered templates with their status and variables.

    Examples:

    \b
      kmsg templates list --provider solapi --status approved
      kmsg templates list --cached --format csv
    """
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    app_ctx = app_context(ctx)
    out = app_ctx.output
    rows = [(pid, t) for pid, t in _listed(app_ctx, provider, cached) if status in (None, t.status)]
    doc = {"templates": [{"provider": pid} | t.as_dict() for pid, t in rows]}

    def human(_console: Console) -> None:
        out.table(
            ("provider", "code", "name", "status", "variables"),
            [(pid, t.code, t.name, t.status, " ".join(t.variables) or "-") for pid, t in rows],
        )

    out.emit(doc, human, data=True)


@command(app, "show")
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The template code.")],
    provider: ProviderOpt = [],  # noqa: B006
    cached: CachedOpt = False,
) -> None:
    """Show one template: its status, body, buttons and variables.

    Examples:

    \b
      kmsg templates show ORDER_SHIPPED
      kmsg templates show ORDER_SHIPPED --cached --json
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    found: list[tuple[str, Template]] = []
    for pid, catalog in catalogs(app_ctx, provider, TemplateCatalog):
        one = app_ctx.store().cached_template(pid, code) if cached else catalog.template(code)
        if one is not None:
            found.append((pid, one))
    if not found:
        raise InputError(
            f"no template {code!r}" + (" in the cache" if cached else ""),
            hint="see `kmsg templates list`",
        )
    doc = {"templates": [{"provider": pid} | t.as_dict() for pid, t in found]}

    def human(console: Console) -> None:
        for pid, t in found:
            console.print(f"{t.code} ({pid}): {t.name}", markup=False, highlight=False)
            console.print(f"  status: {t.status} ({t.raw_status or '-'})", markup=False)
            console.print(f"  variables: {', '.join(t.variables) or '-'}", markup=False)
            for b in t.buttons:
                links = " ".join(x for x in (b.link_mo, b.link_pc, b.link_ios, b.link_and) if x)
                console.print(f"  button: {b.name} [{b.type}] {links}".rstrip(), markup=False)
            console.print("  body:", markup=False)
            for line in t.body.splitlines() or [""]:
                console.print(f"    {line}", markup=False, highlight=False)

    out.emit(doc, human, data=True)


@command(app, "sync")
def sync(ctx: typer.Context, provider: ProviderOpt = []) -> None:  # noqa: B006
    """Cache the templates and sender numbers locally.

    Each provider's templates and registered sender numbers are saved in the local database.

    Sends are then checked against the cache, offline; run it again after a template is approved.

    Examples:

    \b
      kmsg templates sync
      kmsg templates sync --provider solapi
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    rows: list[dict[str, Any]] = []
    for pid, catalog in catalogs(app_ctx, provider, TemplateCatalog):
        templates = catalog.templates()
        senders = catalog.senders() if isinstance(catalog, SenderCatalog) else None
        store, now = app_ctx.store(), app_ctx.clock.now_ms()
        store.replace_templates(pid, templates, now)
        if senders is not None:
            store.replace_senders(pid, senders, now)
        rows.append(
            {
                "provider": pid,
                "templates": len(templates),
                "approved": sum(t.status == "approved" for t in templates),
                "senders": None if senders is None else len(senders),
            }
        )

    def human(console: Console) -> None:
        for r in rows:
            senders = "" if r["senders"] is None else f", {r['senders']} sender number(s)"
            console.print(
                f"{r['provider']}: {r['templates']} template(s), {r['approved']} approved{senders}",
                markup=False,
            )

    out.emit({"synced": rows}, human)


# ----------------------------------------------------------------------- create, update, ...

FileOpt = Annotated[
    Path,
    typer.Option("--file", metavar="PATH", help="The template as JSON or TOML (.json, .toml)."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the request to the provider; send nothing.")
]
OneProviderOpt = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="ID",
        help="The provider to change (needed when several can).",
        autocompletion=complete_provider_ids,
    ),
]
CodeArg = Annotated[str, typer.Argument(metavar="CODE", help="The template code.")]


@command(app, "create")
def create(
    ctx: typer.Context, file: FileOpt, provider: OneProviderOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Register a new template with a provider.

    The file holds name, body (with #{name} placeholders), category (SOLAPI's category code)
    and buttons (each with name, type and link_mo, link_pc, link_ios, link_and). SOLAPI and
    Aligo keep a new template until `kmsg templates request`.

    Examples:

    \b
      kmsg templates create --file welcome.toml --dry-run
      kmsg templates create --file welcome.json --provider solapi
    """
    _template_change.change(ctx, "create", "", file, provider, dry_run)


@command(app, "update")
def update(
    ctx: typer.Context,
    code: CodeArg,
    file: FileOpt,
    provider: OneProviderOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Replace a template's name, body and buttons.

    Providers only let a template be changed before it is approved (or after it is rejected).

    Examples:

    \b
      kmsg templates update KA01TP000001 --file welcome.toml --dry-run
      kmsg templates update KA01TP000001 --file welcome.toml
    """
    _template_change.change(ctx, "update", code, file, provider, dry_run)


@command(app, "delete")
def delete(
    ctx: typer.Context, code: CodeArg, provider: OneProviderOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Delete a template at its provider.

    Examples:

    \b
      kmsg templates delete KA01TP000001 --dry-run
      kmsg templates delete KA01TP000001 --provider aligo
    """
    _template_change.change(ctx, "delete", code, None, provider, dry_run)


@command(app, "request")
def request(
    ctx: typer.Context, code: CodeArg, provider: OneProviderOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Send a template to Kakao's inspection.

    SOLAPI and Aligo have the call; IWINV has none (exit 78).

    Examples:

    \b
      kmsg templates request KA01TP000001
      kmsg templates request KA01TP000001 --dry-run --json
    """
    _template_change.change(ctx, "request", code, None, provider, dry_run)
