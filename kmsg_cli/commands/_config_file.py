"""The text `kmsg config init` and `add-provider` write: a starter table per provider type (its
secrets as ``env:`` references named after the provider id), the questions asked on a terminal,
and the atomic, owner-only write of the file."""

from __future__ import annotations

import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

from kmsg_cli.errors import Cancelled, InputError

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


def ask(question: str, default: str = "", *, secret: bool = False) -> str:
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


def interview(provider: str) -> tuple[str, str, list[str]]:
    """Ask for the provider type, its keys, sender and Kakao channel: the file's text (secrets
    as env: references only) and the ``export`` lines that set them."""
    from kmsg_cli.core import phone

    while (ptype := ask(f"provider type ({' | '.join(STARTERS)})", provider)) not in STARTERS:
        sys.stderr.write(f"  not a provider type: {ptype}\n")
    secrets, sender_key, channel_key = PROMPTS[ptype]
    lines = [f"[providers.{ptype}]", f'type = "{ptype}"']
    exports: list[str] = []
    values: dict[str, str] = {}

    def secret(key: str, what: str) -> None:
        name = env_name(ptype, key)
        value = ask(
            f"{ptype} {what} (kept out of the file: env {name}; Enter to skip)", secret=True
        )
        lines.append(f'{key} = "env:{name}"')
        exports.append(f"export {name}={shlex.quote(value)}" if value else f"export {name}=...")
        if value:
            values[name] = value

    for key, what in secrets:
        secret(key, what)
    while True:
        sender = ask("sender number (registered with the provider)", "0212345678")
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
