"""`kmsg config`: init, add-provider, show, validate, path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli import config
from kmsg_cli.commands import _config_file
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.commands._complete import complete_provider_ids
from kmsg_cli.errors import ConfigError, InputError, KmsgError

if TYPE_CHECKING:
    from rich.console import Console

HELP = """Create, show and check the configuration file.

Examples:

\b
  kmsg config init
  kmsg config add-provider backup --type aligo
  kmsg config validate
"""
app = typer.Typer(help=HELP, no_args_is_help=True)


def complete_provider_type(incomplete: str) -> list[str]:
    return [t for t in _config_file.PROVIDER_TYPES if t.startswith(incomplete)]


ProviderTypeOpt = Annotated[
    str,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="mock | solapi | iwinv | aligo",
        autocompletion=complete_provider_type,
    ),
]


@command(app, "init")
def init(
    ctx: typer.Context,
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            metavar="TYPE",
            help="mock | solapi | iwinv | aligo",
            autocompletion=complete_provider_type,
        ),
    ] = "mock",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    example: Annotated[
        bool, typer.Option("--example", help="Write config.example.toml: every key, commented.")
    ] = False,
) -> int:
    """Write a starter config file.

    A commented file, mode 0600; on a terminal, kmsg asks for the details first.

    Examples:

    \b
      kmsg config init
      kmsg config init --provider solapi
      kmsg config init --example
    """
    app_ctx = app_context(ctx)
    out = app_ctx.output
    if provider not in _config_file.STARTERS:
        raise ConfigError(
            f"unknown provider {provider!r}: use one of {', '.join(_config_file.STARTERS)}"
        )
    path = app_ctx.config_path
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="pass --force to overwrite it")
    if example:
        from importlib.resources import files

        text = files("kmsg_cli").joinpath("config.example.toml").read_text(encoding="utf-8")
        _config_file.write_private(path, text)
        out.emit(
            {"path": str(path), "example": True},
            lambda c: c.print(f"wrote {path} (the example: edit it, then `kmsg config validate`)"),
        )
        return 0
    asking = out.can_ask() and not out.json_mode
    exports: list[str] = []
    if asking:
        provider, text, exports = _config_file.interview(provider)
    else:
        text = _config_file.starter(provider)
    config.parse(text.encode(), "starter")  # never write a file kmsg itself would reject
    _config_file.write_private(path, text)
    if not asking:
        out.emit(
            {"path": str(path), "provider": provider},
            lambda c: c.print(
                f"wrote {path}\nnext: set the env: variables it names, then `kmsg providers doctor`"
            ),
        )
        return 0
    console = out.console()
    console.print(f"wrote {path}", markup=False)
    if exports:
        console.print("run these in your shell (and add them to its profile):", markup=False)
        for line in exports:
            console.print(line, markup=False, soft_wrap=True)
    console.print("checking it: kmsg providers doctor", markup=False)
    from kmsg_cli.commands import providers_cmd

    app_ctx._settings = None  # the file just written
    return int(providers_cmd.doctor(ctx, []) or 0)


@command(app, "add-provider")
def add_provider(
    ctx: typer.Context,
    provider_id: Annotated[
        str, typer.Argument(metavar="ID", help="The new provider's id.", show_default=False)
    ],
    provider_type: ProviderTypeOpt = "mock",
) -> None:
    """Add a provider to the config file.

    Everything else in the file is kept as it is.

    Examples:

    \b
      kmsg config add-provider backup --type aligo
      kmsg config add-provider kakao --type iwinv
    """
    app_ctx = app_context(ctx)
    if provider_type not in _config_file.STARTERS:
        raise ConfigError(
            f"unknown provider type {provider_type!r}: use one of {', '.join(_config_file.STARTERS)}"
        )
    path = app_ctx.config_path
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", hint="run `kmsg config init`") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    existing = config.parse(current.encode(), str(path))
    if provider_id in existing.providers:
        raise InputError(
            f"provider {provider_id!r} is already in {path}",
            hint="choose another id, or edit the file",
        )
    block = _config_file.section(provider_id, provider_type)
    text = current.rstrip("\n") + "\n\n" + block
    config.parse(text.encode(), str(path))  # the result must load
    _config_file.write_private(path, text)
    exports = [f"export {name}=..." for name in _config_file.env_references(block)]
    app_ctx.output.emit(
        {
            "path": str(path),
            "provider": provider_id,
            "type": provider_type,
            "env": _config_file.env_references(block),
        },
        lambda c: c.print(
            "\n".join(
                [f"added [providers.{provider_id}] to {path}", *exports]
                + [f"next: kmsg providers doctor --provider {provider_id}"]
            ),
            markup=False,
        ),
    )


@command(app, "show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration, secrets masked.

    Examples:

    \b
      kmsg config show
      kmsg config show --json
    """
    app_ctx = app_context(ctx)
    data = config.redacted_dict(app_ctx.settings)
    doc = {
        "path": str(app_ctx.config_path),
        "embedded_default": app_ctx.using_default,
        "config": data,
    }

    def human(console: Console) -> None:
        import tomli_w

        console.print(
            f"# {app_ctx.config_path}"
            + (" (not found: built-in default)" if app_ctx.using_default else "")
        )
        console.print(tomli_w.dumps(data), markup=False)

    app_ctx.output.emit(doc, human, data=True)


@command(app, "validate")
def validate(
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
    """Check the config file and every provider in it.

    Resolves every secret reference and builds each provider, without the network.

    Examples:

    \b
      kmsg config validate
      kmsg config validate --provider solapi
    """
    app_ctx = app_context(ctx)
    if not app_ctx.config_path.exists():  # the built-in default is no file to pass a check
        raise ConfigError(
            f"config file not found: {app_ctx.config_path}",
            hint="run `kmsg config init`; until then kmsg uses the built-in mock provider",
        )
    try:
        settings = app_ctx.settings
    except ConfigError as exc:
        if len(exc.problems) < 2:
            raise
        # every problem at once, one line each, so one edit fixes them all
        found = {"path": str(app_ctx.config_path), "problems": exc.problems}
        if app_ctx.output.json_mode:
            app_ctx.output.fail(exc, found)
        else:
            app_ctx.output.error(f"{app_ctx.config_path}: {len(exc.problems)} problems")
            for problem in exc.problems:
                app_ctx.output.error(f"  {problem}", prefix=False)
        return 78
    ids = provider or list(settings.providers)
    results = []
    for pid in ids:
        if pid not in settings.providers:
            raise ConfigError(f"no provider {pid!r} in {app_ctx.config_path}")
        try:
            app_ctx.provider(pid)
            results.append({"provider": pid, "ok": True})
        except KmsgError as exc:
            results.append({"provider": pid, "ok": False, "error": exc.message})
    bad = [r for r in results if not r["ok"]]
    doc = {"path": str(app_ctx.config_path), "providers": results}
    if bad:
        app_ctx.output.fail(
            ConfigError(
                f"{len(bad)} provider(s) not usable: "
                + "; ".join(f"{r['provider']}: {r['error']}" for r in bad)
            ),
            doc,
        )
        return 78
    app_ctx.output.emit(
        doc, lambda c: c.print(f"{app_ctx.config_path}: ok ({len(results)} provider(s))")
    )
    return 0


@command(app, "path")
def path(ctx: typer.Context) -> None:
    """Print which config file and database kmsg uses.

    Examples:

    \b
      kmsg config path
      kmsg --config ./staging.toml config path
    """
    app_ctx = app_context(ctx)
    cfg = app_ctx.config_path
    doc = {"config": str(cfg), "config_exists": cfg.exists(), "db": app_ctx.db_shown}
    app_ctx.output.emit(
        doc,
        lambda c: c.print(
            f"config: {cfg}{'' if cfg.exists() else ' (missing)'}\ndb: {doc['db']}", markup=False
        ),
        data=True,
    )
