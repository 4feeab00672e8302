from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from kmsg_cli import config
from kmsg_cli.errors import ConfigError
from tests.conftest import Kmsg

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_and_covers_every_key() -> None:
    settings = config.parse((ROOT / "config.example.toml").read_bytes(), "example")
    assert set(settings.providers) == {"solapi", "iwinv", "aligo", "mock"}
    common = set(config._ProviderBase.model_fields)
    shown_common: set[str] = set()
    for pid, cfg in settings.providers.items():
        own = set(type(cfg).model_fields) - common
        assert own <= cfg.model_fields_set, f"providers.{pid} lacks {own - cfg.model_fields_set}"
        shown_common |= cfg.model_fields_set & common
    assert shown_common == common
    for section in (settings.routing, settings.defaults.sms, settings.store, settings.tracking):
        assert set(type(section).model_fields) == section.model_fields_set, type(section).__name__
    assert settings.prices


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[routing]\ndefault = "nope"\n', "'nope'"),
        ("[defaults.sms]\nauto_lms_bytes = 0\n", "defaults.sms.auto_lms_bytes"),
        (
            '[defaults.sms]\nauto_lms_bytes = "90"\n',
            "defaults.sms.auto_lms_bytes",
        ),  # strict types (CFG-11)
        ('[providers.x]\ntype = "nosuch"\n', "providers.x"),
        ('[routing]\nby_type = { SMSS = "m" }\n', "SMSS"),
        ("[providers\n", "invalid TOML"),
        ('[providers.s]\ntype = "solapi"\napi_key = "k"\n', "missing key 'providers.s.api_secret'"),
    ],
)
def test_bad_configs_name_the_problem(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse(text.encode(), "cfg")
    assert expected in err.value.message


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_SECRET", "s3cret")
    assert config.resolve_secret("env:K_SECRET", "k") == "s3cret"
    (tmp_path / "f").write_text("from-file\n")
    assert config.resolve_secret(f"file:{tmp_path / 'f'}", "k") == "from-file"
    with pytest.raises(ConfigError, match="NOPE"):
        config.resolve_secret("env:NOPE", "providers.a.api_key")
    assert config.masked("literal-secret") == "****"


def test_precedence_flag_env_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kmsg_home: Path
) -> None:
    assert config.config_path() == kmsg_home / "config.toml"
    monkeypatch.setenv("KMSG_CONFIG", str(tmp_path / "env.toml"))
    assert config.config_path() == tmp_path / "env.toml"
    assert config.config_path("flag.toml") == Path("flag.toml")


def test_init_writes_0600_refuses_overwrite_and_show_masks(
    kmsg: Kmsg, kmsg_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = kmsg("config", "init", "--provider", "solapi")
    assert result.exit_code == 0, result.output
    path = kmsg_home / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = kmsg("config", "init")
    assert again.exit_code == 78 and "--force" in again.stderr
    assert kmsg("config", "init", "--force", "--provider", "aligo").exit_code == 0

    path.write_text(path.read_text().replace('"env:ALIGO_API_KEY"', '"literal-key-123"'))
    shown = kmsg("config", "show")
    assert shown.exit_code == 0
    assert "literal-key-123" not in shown.output and "****" in shown.stdout


def test_validate_resolves_secrets(
    kmsg: Kmsg, write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[providers.m]\ntype = "mock"\n')
    assert kmsg("config", "validate").exit_code == 0
    path_doc = kmsg.json("config", "path")[1]
    assert path_doc["config_exists"] is True


def test_literal_secret_in_world_readable_file_warns(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    path = write_config(
        '[providers.s]\ntype = "solapi"\napi_key = "literal"\napi_secret = "literal2"\n'
    )
    os.chmod(path, 0o644)
    result = kmsg("providers", "list")
    assert "readable by others" in result.stderr
    assert "literal" not in result.stdout
