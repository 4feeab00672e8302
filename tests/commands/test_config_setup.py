"""Setting kmsg up: `kmsg config validate/init/add-provider` (issue 14's Setup part)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from kmsg_cli import config
from kmsg_cli.commands import _config_file
from tests.commands.test_send_bulk_tty import Terminal
from tests.conftest import Kmsg

ROOT = Path(__file__).resolve().parents[2]


def test_validate_reports_every_problem_with_its_dotted_key(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    write_config(
        '[providers.m]\ntype = "mock"\nbalance = "lots"\ncolour = 1\n'
        "[tracking]\nbatch_size = 0\n[defaults.sms]\nauto_lms_bytes = 91\n"
    )
    result = kmsg("config", "validate")
    assert result.exit_code == 78
    for key in ("providers.m.balance", "providers.m.colour", "tracking.batch_size"):
        assert key in result.stderr
    assert "defaults.sms.auto_lms_bytes" in result.stderr
    assert "4 problems" in result.stderr
    code, doc = kmsg.json("config", "validate")
    assert code == 78 and len(doc["problems"]) == 4
    assert doc["error"]["problems"] == doc["problems"]


def test_validate_a_single_problem_reads_as_before(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    write_config('[providers.m]\ntype = "mock"\nbalance = "lots"\n')
    result = kmsg("config", "validate")
    assert result.exit_code == 78
    assert result.stderr.count("\n") == 1 and "providers.m.balance" in result.stderr


def test_validate_without_a_config_file_fails_instead_of_passing_the_default(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    result = kmsg("config", "validate")  # a CI check of a file that is not where kmsg looks
    assert result.exit_code == 78
    assert result.stdout == ""
    assert f"config file not found: {kmsg_home / 'config.toml'}" in result.stderr
    assert "kmsg config init" in result.stderr
    code, doc = kmsg.json("config", "validate")
    assert code == 78 and doc["ok"] is False


def test_init_on_a_terminal_asks_then_runs_the_doctor(kmsg_home: Path) -> None:
    term = Terminal(["config", "init"])
    term.expect("provider type (mock | solapi | iwinv | aligo) [mock]:")
    term.type(b"mock\n")
    term.expect("sender number (registered with the provider) [0212345678]:")
    term.type(b"02-123-4567x\n")
    term.expect("invalid")
    term.type(b"02-1234-5678\n")
    assert term.wait() == 0, term.text
    assert "checking it: kmsg providers doctor" in term.text and "mock: ok" in term.text
    path = kmsg_home / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert 'default_from = "0212345678"' in path.read_text()


def test_init_on_a_terminal_writes_keys_as_env_references(kmsg_home: Path) -> None:
    # a closed local port as proxy: the doctor's call fails at once, nothing leaves the machine
    term = Terminal(["config", "init"], {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_COLOR": "1"})
    term.expect("[mock]:")
    term.type(b"solapi\n")
    term.expect("env SOLAPI_API_KEY")
    term.type(b"s3cr'et v\n")
    term.expect("env SOLAPI_API_SECRET")
    term.type(b"\n")  # skipped: the export line says what to set
    term.expect("sender number")
    term.type(b"\n")
    term.expect("env SOLAPI_KAKAO_PF_ID")
    term.type(b"PF123\n")
    code = term.wait()
    text = (kmsg_home / "config.toml").read_text()
    assert "s3cr" not in text and "PF123" not in text
    assert 'api_key = "env:SOLAPI_API_KEY"' in text
    assert 'kakao_pf_id = "env:SOLAPI_KAKAO_PF_ID"' in text
    assert "export SOLAPI_API_KEY='s3cr'\"'\"'et v'" in term.text
    assert "export SOLAPI_API_SECRET=..." in term.text
    assert "export SOLAPI_KAKAO_PF_ID=PF123" in term.text
    assert "s3cr" not in term.text.split("export")[0]  # typed keys are not echoed
    assert code == 78 and "SOLAPI_API_SECRET is not set" in term.text  # the doctor's verdict


def test_init_without_a_terminal_writes_the_template_without_asking(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    result = kmsg("config", "init", "--provider", "solapi", input="aligo\n")
    assert result.exit_code == 0, result.output
    assert "provider type" not in result.output
    text = (kmsg_home / "config.toml").read_text()
    assert text == _config_file.starter("solapi")


def test_init_example_writes_the_shipped_example(kmsg: Kmsg, kmsg_home: Path) -> None:
    assert kmsg("config", "init", "--example").exit_code == 0
    path = kmsg_home / "config.toml"
    assert path.read_text() == (ROOT / "config.example.toml").read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_packaged_example_is_the_repository_one() -> None:
    """config.example.toml at the repository root is the one to edit; kmsg_cli/ ships a copy."""
    shipped = files("kmsg_cli").joinpath("config.example.toml").read_bytes()
    assert shipped == (ROOT / "config.example.toml").read_bytes(), (
        "cp config.example.toml kmsg_cli/config.example.toml"
    )


def test_add_provider_keeps_the_rest_and_refuses_a_known_id(kmsg: Kmsg, kmsg_home: Path) -> None:
    assert kmsg("config", "init", "--provider", "solapi").exit_code == 0
    path = kmsg_home / "config.toml"
    before = path.read_text()
    result = kmsg("config", "add-provider", "backup", "--type", "aligo")
    assert result.exit_code == 0, result.output
    assert "export BACKUP_API_KEY=..." in result.stdout
    after = path.read_text()
    assert after.startswith(before.rstrip("\n"))
    assert 'api_key = "env:BACKUP_API_KEY"' in after and "[providers.backup]" in after
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = config.load(path, required=True)
    assert settings and set(settings.providers) == {"solapi", "backup"}
    again = kmsg("config", "add-provider", "backup", "--type", "mock")
    assert again.exit_code == 65 and "already" in again.stderr
    assert path.read_text() == after
    assert kmsg("config", "add-provider", "x", "--type", "nope").exit_code == 78
