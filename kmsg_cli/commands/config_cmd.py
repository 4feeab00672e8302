"""`kmsg config`: init, add-provider, show, validate, path."""

from __future__ import annotations

import os
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmsg_cli import config
from kmsg_cli.commands._common import app_context, command
from kmsg_cli.commands._complete import complete_provider_ids
from kmsg_cli.errors import Cancelled, ConfigError, InputError, KmsgError

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
default_from = "0212345678"            # registered sender; this machine's IP must be allow-listed
""",
    "aligo": """[providers.aligo]
type = "aligo"
api_key = "env:ALIGO_API_KEY"
user_id = "env:ALIGO_USER_ID"
default_from = "0212345678"
# sender_key = "env:ALIGO_SENDER_KEY"  # KakaoTalk channel
# test_mode = false
""",
}


PROVIDER_TYPES = tuple(STARTERS)


def complete_provider_type(incomplete: str) -> list[str]:
    return [t for t in PROVIDER_TYPES if t.startswith(incomplete)]


ProviderTypeOpt = Annotated[
    str,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="mock | solapi | iwinv | aligo",
        autocompletion=complete_provider_type,
    ),
]

# per provider type: (key, what to ask) for each secret, the sender key, the Kakao channel key
PROMPTS: dict[str, tuple[list[tuple[str, str]], str, str | None]] = {
    "mock": ([], "default_from", None),
    "solapi": (
        [("api_key", "API key"), ("api_secret", "API secret")],
        "default_from",
        "kakao_pf_id",
    ),
    "iwinv": (
        [
            ("api_key", "AlimTalk API key"),
            ("sms_api_key", "SMS API key"),
            ("sms_auth_key", "SMS auth key"),
        ],
        "default_from",
        None,
    ),
    "aligo": ([("api_key", "API key"), ("user_id", "user id")], "default_from", "sender_key"),
}


def env_name(provider_id: str, key: str) -> str:
    """The variable a provider's secret is read from: SOLAPI_API_KEY for providers.solapi."""
    prefix = re.sub(r"[^A-Z0-9]+", "_", provider_id.upper()).strip("_") or "KMSG"
    return f"{prefix}_{key.upper()}"


def section(provider_id: str, provider_type: str) -> str:
    """A starter provider table under ``provider_id``, its env: names from the id."""
    text = STARTERS[provider_type].replace(
        f"[providers.{provider_type}]", f"[providers.{_toml_key(provider_id)}]", 1
    )
    return re.sub(
        r'"env:[A-Z]+_([A-Z_]+)"', lambda m: f'"env:{env_name(provider_id, m.group(1))}"', text
    )


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def env_references(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'^[a-z_]+ = "env:([A-Z0-9_]+)"', text, re.MULTILINE)))


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
    if provider not in STARTERS:
        raise ConfigError(f"unknown provider {provider!r}: use one of {', '.join(STARTERS)}")
    path = app_ctx.config_path
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="pass --force to overwrite it")
    if example:
        from importlib.resources import files

        text = files("kmsg_cli").joinpath("config.example.toml").read_text(encoding="utf-8")
        write_private(path, text)
        out.emit(
            {"path": str(path), "example": True},
            lambda c: c.print(f"wrote {path} (the example: edit it, then `kmsg config validate`)"),
        )
        return 0
    asking = out.can_ask() and not out.json_mode
    exports: list[str] = []
    if asking:
        provider, text, exports = _interview(provider)
    else:
        text = starter(provider)
    config.parse(text.encode(), "starter")  # never write a file kmsg itself would reject
    write_private(path, text)
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


def _ask(question: str, default: str = "", *, secret: bool = False) -> str:
    """One answer from the terminal (the question on stderr); Ctrl-C or Ctrl-D cancel."""
    shown = f"{question} [{default}]: " if default else f"{question}: "
    try:
        if secret:
            import getpass

            answer = getpass.getpass(shown, stream=sys.stderr)
        else:
            sys.stderr.write(shown)
            sys.stderr.flush()
            answer = sys.stdin.readline()
            if not answer:
                raise EOFError
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\n")
        raise Cancelled("cancelled; nothing written") from None
    return answer.strip() or default


def _interview(provider: str) -> tuple[str, str, list[str]]:
    """Ask for the provider type, its keys, sender and Kakao channel: the file's text (secrets
    as env: references only) and the ``export`` lines that set them."""
    from kmsg_cli.core import phone

    while (ptype := _ask(f"provider type ({' | '.join(STARTERS)})", provider)) not in STARTERS:
        sys.stderr.write(f"  not a provider type: {ptype}\n")
    secrets, sender_key, channel_key = PROMPTS[ptype]
    lines = [f"[providers.{ptype}]", f'type = "{ptype}"']
    exports: list[str] = []
    values: dict[str, str] = {}

    def secret(key: str, what: str) -> None:
        name = env_name(ptype, key)
        value = _ask(
            f"{ptype} {what} (kept out of the file: env {name}; Enter to skip)", secret=True
        )
        lines.append(f'{key} = "env:{name}"')
        exports.append(f"export {name}={shlex.quote(value)}" if value else f"export {name}=...")
        if value:
            values[name] = value

    for key, what in secrets:
        secret(key, what)
    while True:
        sender = _ask("sender number (registered with the provider)", "0212345678")
        try:
            lines.append(f'{sender_key} = "{phone.sender(sender)}"')
            break
        except InputError as exc:
            sys.stderr.write(f"  {exc.message}\n")
    if channel_key:
        secret(channel_key, "KakaoTalk channel key (for AlimTalk)")
        if not values.get(env_name(ptype, channel_key)):  # skipped: leave the key out
            lines.pop()
            exports.pop()
    os.environ.update(values)  # so the doctor run next can use them
    body = starter(ptype).replace(STARTERS[ptype], "\n".join(lines) + "\n")
    return ptype, body, exports


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
    if provider_type not in STARTERS:
        raise ConfigError(
            f"unknown provider type {provider_type!r}: use one of {', '.join(STARTERS)}"
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
    block = section(provider_id, provider_type)
    text = current.rstrip("\n") + "\n\n" + block
    config.parse(text.encode(), str(path))  # the result must load
    write_private(path, text)
    exports = [f"export {name}=..." for name in env_references(block)]
    app_ctx.output.emit(
        {
            "path": str(path),
            "provider": provider_id,
            "type": provider_type,
            "env": env_references(block),
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
