"""`kmsg config`: init, show, validate, path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli import config
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.errors import ConfigError, KmsgError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="Create, show and check the configuration file.", no_args_is_help=True)

STARTERS = {
    "mock": """[providers.mock]
type = "mock"                          # built in; nothing is really sent
default_from = "0212345678"
""",
    "solapi": """[providers.solapi]
type = "solapi"
api_key = "env:SOLAPI_API_KEY"         # env:NAME or file:PATH; a literal works but is warned about
api_secret = "env:SOLAPI_API_SECRET"
default_from = "0212345678"            # a sender number registered with SOLAPI
# kakao_pf_id = "env:SOLAPI_KAKAO_PF_ID"
""",
    "iwinv": """[providers.iwinv]
type = "iwinv"
api_key = "env:IWINV_API_KEY"          # AlimTalk key
sms_api_key = "env:IWINV_SMS_API_KEY"
sms_auth_key = "env:IWINV_SMS_AUTH_KEY"
sender_number = "0212345678"           # registered sender; this machine's IP must be allow-listed
""",
    "aligo": """[providers.aligo]
type = "aligo"
api_key = "env:ALIGO_API_KEY"
user_id = "env:ALIGO_USER_ID"
sender = "0212345678"
# sender_key = "env:ALIGO_SENDER_KEY"  # KakaoTalk channel
# test_mode = false
""",
}


def starter(provider: str) -> str:
    return f"""# kmsg configuration. Every key: config.example.toml in the kmsg repository.
# Secrets: "env:NAME" reads an environment variable, "file:PATH" a file, when the provider is used.

{STARTERS[provider]}
[routing]
default = "{provider}"
strategy = "first"                     # first | round_robin

[defaults.sms]
auto_lms_bytes = 90                    # SMS becomes LMS above this many CP949 bytes

[prices]                               # KRW per message, for cost estimates
SMS = 9.9
LMS = 30
ALIMTALK = 7.5
"""


def write_private(path: Path, text: str) -> None:
    """Atomic write, mode 0600 (CFG-4): temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kmsg-", suffix=".toml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@command(app, "init")
def init(
    ctx: typer.Context,
    provider: Annotated[
        str, typer.Option("--provider", help="mock | solapi | iwinv | aligo")
    ] = "mock",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (mode 0600).

    Example: kmsg config init --provider solapi
    """
    app_ctx = app_context(ctx)
    if provider not in STARTERS:
        raise ConfigError(f"unknown provider {provider!r}: use one of {', '.join(STARTERS)}")
    path = app_ctx.config_path
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="pass --force to overwrite it")
    text = starter(provider)
    config.parse(text.encode(), "starter")  # never write a file kmsg itself would reject
    write_private(path, text)
    app_ctx.output.emit(
        {"path": str(path), "provider": provider},
        lambda c: c.print(
            f"wrote {path}\nnext: set the env: variables it names, then `kmsg providers doctor`"
        ),
    )


@command(app, "show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration, secrets masked.

    Example: kmsg config show --json
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
        list[str], typer.Option("--provider", help="Only these provider ids.")
    ] = [],  # noqa: B006
) -> int:
    """Check the file, resolve every secret reference and build each provider (no network).

    Example: kmsg config validate --provider solapi
    """
    app_ctx = app_context(ctx)
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

    Example: kmsg config path
    """
    app_ctx = app_context(ctx)
    cfg = app_ctx.config_path
    doc = {"config": str(cfg), "config_exists": cfg.exists(), "db": str(app_ctx.db_path)}
    app_ctx.output.emit(
        doc,
        lambda c: c.print(
            f"config: {cfg}{'' if cfg.exists() else ' (missing)'}\ndb: {doc['db']}", markup=False
        ),
        data=True,
    )
