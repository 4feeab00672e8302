"""Start-up imports only what the command in hand needs (docs/architecture.md#layers-and-import-rules).

Checked by the modules a fresh child process has loaded when the command is done, never by
timing: `python bench/startup.py` measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# what the `kmsg` console script does, then the loaded modules as JSON on the real stdout
CHILD = """
import contextlib, io, json, sys
from kmsg_cli.app import main
sys.argv = ["kmsg", *sys.argv[1:]]
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out):
        main()
except SystemExit as exc:
    code = exc.code
sys.__stdout__.write(json.dumps({"code": code, "out": out.getvalue(), "modules": list(sys.modules)}))
"""

HEAVY = {"typer", "pydantic", "pydantic_core", "rich", "httpx", "httpcore", "sqlite3"}


def run(home: Path, *args: str) -> tuple[Any, str, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSG_")}
    env |= {"KMSG_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    return result["code"], result["out"], set(result["modules"])


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def kmsg_modules(modules: set[str], prefix: str) -> set[str]:
    return {m for m in modules if m.startswith(prefix)}


def test_version_imports_no_framework_and_no_command(kmsg_home: Path) -> None:
    for args in (["--version"], ["--version", "--json"], ["--json", "--version"]):
        code, out, modules = run(kmsg_home, *args)
        assert code in (0, None)
        assert out.startswith("kmsg ") if args == ["--version"] else json.loads(out)["ok"]
        assert not tops(modules) & HEAVY, sorted(tops(modules) & HEAVY)
        assert {m for m in modules if m.startswith("kmsg_cli")} == {"kmsg_cli", "kmsg_cli.app"}


def test_a_mock_send_loads_its_command_and_the_mock_alone(kmsg_home: Path) -> None:
    code, out, modules = run(kmsg_home, "send", "--to", "01012345678", "--text", "hi")
    assert code == 0 and "SENT" in out
    assert kmsg_modules(modules, "kmsg_cli.commands.") == {
        "kmsg_cli.commands._coerce",
        "kmsg_cli.commands._common",
        "kmsg_cli.commands._complete",  # small: the option values Tab completes
        "kmsg_cli.commands._send_view",  # send's own rendering
        "kmsg_cli.commands.send",
    }
    assert kmsg_modules(modules, "kmsg_cli.providers.") == {
        "kmsg_cli.providers.registry",
        "kmsg_cli.providers.plugin",
        "kmsg_cli.providers.mock",
        "kmsg_cli.providers.mock.provider",
    }
    assert not tops(modules) & {"httpx", "httpcore", "certifi"}
    # no config file: the built-in default, without building the pydantic config models
    assert "kmsg_cli.config_schema" not in modules
    # plain option values are taken as they are: typer builds no pydantic adapter for them
    assert not tops(modules) & {"pydantic", "pydantic_core"}
    # piped, the result is tab-separated rows: no rich
    assert "rich" not in tops(modules)


def test_status_loads_no_provider_and_no_http(kmsg_home: Path) -> None:
    run(kmsg_home, "send", "--to", "01012345678", "--text", "hi")
    code, out, modules = run(kmsg_home, "status", "--format", "table")
    assert code == 0 and "1 message(s)" in out
    assert kmsg_modules(modules, "kmsg_cli.commands.") == {
        "kmsg_cli.commands._coerce",
        "kmsg_cli.commands._common",
        "kmsg_cli.commands._complete",
        "kmsg_cli.commands._ids",  # status's own parts
        "kmsg_cli.commands._message_view",
        "kmsg_cli.commands.status",
    }
    assert not kmsg_modules(modules, "kmsg_cli.providers")
    assert not tops(modules) & {"httpx", "httpcore", "certifi", "pydantic", "pydantic_core"}
    assert "kmsg_cli.config_schema" not in modules


def test_option_values_that_need_converting_are_still_converted_and_checked(
    kmsg_home: Path,
) -> None:
    run(kmsg_home, "send", "--to", "01012345678,01012345679", "--text", "hi")
    code, out, modules = run(kmsg_home, "status", "--limit", "1", "--format", "tsv")
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert not tops(modules) & {"rich", "pydantic"}  # plain rows; a number in plain digits
    for bad in (["--limit", "0"], ["--limit", "x"], ["--format", "TSV"]):
        code, _, _ = run(kmsg_home, "status", *bad)
        assert code == 2, bad


def test_a_config_file_is_still_validated(kmsg_home: Path) -> None:
    (kmsg_home / "config.toml").write_text('[providers.m]\ntype = "mock"\nbalance = "lots"\n')
    code, _out, modules = run(kmsg_home, "status")
    assert code == 78 and "kmsg_cli.config_schema" in modules


def test_a_send_loads_the_configured_provider_types_alone(kmsg_home: Path) -> None:
    """Each provider type is its own package (docs/plugins.md): a send imports the plugin,
    settings and adapter of the types the config names, and no other type's."""
    (kmsg_home / "config.toml").write_text(
        '[providers.s]\ntype = "solapi"\napi_key = "k"\napi_secret = "s"\n'
        'default_from = "0212345678"\n'
    )
    (kmsg_home / "config.toml").chmod(0o600)
    code, out, modules = run(kmsg_home, "send", "--to", "01012345678", "--text", "hi", "--dry-run")
    assert code in (0, None), out
    providers = kmsg_modules(modules, "kmsg_cli.providers.")
    assert {"kmsg_cli.providers.solapi.settings", "kmsg_cli.providers.solapi.provider"} <= providers
    others = ("kmsg_cli.providers.mock", "kmsg_cli.providers.iwinv", "kmsg_cli.providers.aligo")
    assert not {m for m in providers if m.startswith(others)}
