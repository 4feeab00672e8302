"""A change to a provider's AlimTalk templates (`kmsg templates create/update/delete/request`):
the template file read, the one provider able to make the change picked, the change made (or its
request printed by --dry-run), the template cache read again, and the result shown."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kmsg_cli.commands._common import app_context
from kmsg_cli.core.templates import TemplateAdmin, TemplateCatalog, TemplateSpec, parse_spec
from kmsg_cli.errors import (
    ConfigError,
    InputError,
    InputFileError,
    KmsgError,
    UnknownOutcome,
    UsageError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from kmsg_cli.context import AppContext

WHAT = {
    "create": "create templates",
    "update": "update templates",
    "delete": "delete templates",
    "request": "request a template's inspection",
}


def read_spec(path: Path) -> TemplateSpec:
    """A template file: JSON or TOML by its suffix (keys: name, body, category, buttons)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            doc = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix.lower() == ".json":
            doc = json.loads(raw.decode("utf-8"))
        else:
            raise InputError(f"{path}: a template file is .json or .toml")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and TOMLDecodeError too
        raise InputError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    return parse_spec(doc, str(path))


def _admin(app_ctx: AppContext, op: str, provider_id: str | None) -> tuple[str, TemplateAdmin]:
    """The provider that does ``op``: the one named, else the only configured one able to."""
    known = list(app_ctx.settings.providers)
    if provider_id is not None and provider_id not in known:
        raise ConfigError(f"no provider {provider_id!r} configured (have: {', '.join(known)})")
    able: list[tuple[str, TemplateAdmin]] = []
    for pid in [provider_id] if provider_id else known:
        provider = app_ctx.provider(pid)
        if isinstance(provider, TemplateAdmin) and op in provider.template_ops:
            able.append((pid, provider))
        elif provider_id:
            raise ConfigError(
                f"provider {pid!r} ({provider.kind}) cannot {WHAT[op]}: its API has no such call",
                hint="do it in the provider's console",
            )
    if not able:
        raise ConfigError(f"no configured provider can {WHAT[op]}")
    if len(able) > 1:
        raise UsageError(
            f"several providers can {WHAT[op]} ({', '.join(p for p, _ in able)}): "
            "pass --provider ID"
        )
    return able[0]


def change(
    ctx: typer.Context, op: str, code: str, path: Path | None, provider: str | None, dry_run: bool
) -> None:
    app_ctx = app_context(ctx)
    out = app_ctx.output
    spec = read_spec(path) if path is not None else None
    pid, admin = _admin(app_ctx, op, provider)
    try:
        change = admin.manage_template(op, code, spec, dry_run=dry_run)
    except UnknownOutcome as exc:  # a template change is never repeated blindly either
        exc.hint = (
            "the provider may have made the change: see `kmsg templates list` before running "
            "this again"
        )
        raise
    if not dry_run:
        try:
            _refresh_cache(app_ctx, pid, admin)
        except KmsgError as exc:  # the change is made: a failed refresh must not hide that
            out.warn(
                f"the template cache was not refreshed ({exc.message}): run `kmsg templates sync`"
            )
    doc = {"provider": pid, "dry_run": dry_run} | change.as_dict()

    def human(console: Console) -> None:
        if dry_run:
            console.print(f"dry run: nothing sent to {pid}", markup=False)
            text = json.dumps(change.request, ensure_ascii=False, indent=2)
            console.print(text, markup=False, highlight=False)
            return
        done = {"create": "created", "update": "updated", "delete": "deleted"}
        verb = done.get(op, "sent to inspection")
        status = f" (status: {change.status})" if change.status else ""
        console.print(f"{pid}: template {change.code or code} {verb}{status}", markup=False)

    made = [change.code] if change.code and not dry_run else None
    out.emit(doc, human, data=dry_run, ids=made)


def _refresh_cache(app_ctx: AppContext, pid: str, admin: object) -> None:
    """A provider whose templates are cached gets its cache read again, so sends never check
    against a template that was just changed or deleted."""
    if not app_ctx.db_path.exists() or not isinstance(admin, TemplateCatalog):
        return
    store = app_ctx.store()
    if store.synced_at(pid, "templates") is not None:
        store.replace_templates(pid, admin.templates(), app_ctx.clock.now_ms())
