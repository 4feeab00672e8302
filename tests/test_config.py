from __future__ import annotations

import dataclasses
import json
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from kmsg_cli import config, config_schema
from kmsg_cli.errors import ConfigError
from kmsg_cli.providers import registry
from kmsg_cli.providers.settings import ProviderSettings
from tests.conftest import Kmsg

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_and_covers_every_key() -> None:
    raw = (ROOT / "config.example.toml").read_bytes()
    settings = config.parse(raw, "example")
    assert set(settings.providers) == {"solapi", "iwinv", "aligo", "mock"}
    assert settings.prices
    # which keys the file sets: every key of each provider's own settings model
    checked = config_schema.Settings.model_validate(tomllib.loads(raw.decode()))
    common = set(ProviderSettings.model_fields)
    shown_common: set[str] = set()
    for pid, table in checked.providers.items():
        model = registry.plugin(table["type"]).settings_model()
        own = set(model.model_fields) - common
        assert own <= table.keys(), f"providers.{pid} lacks {own - table.keys()}"
        shown_common |= table.keys() & common
    assert shown_common == common
    for section in (checked.routing, checked.defaults.sms, checked.store, checked.tracking):
        assert set(type(section).model_fields) == section.model_fields_set, type(section).__name__


def schema_models() -> list[type[config_schema.BaseModel]]:
    return [
        cls
        for cls in vars(config_schema).values()
        if isinstance(cls, type)
        and issubclass(cls, config_schema.BaseModel)
        and cls.__module__ == config_schema.__name__
        and cls is not config_schema._Strict
    ]


def test_runtime_settings_mirror_the_schema() -> None:
    """config.py's dataclasses and config_schema.py's models: the same names, fields in the same
    order (``config show`` prints them so) and the same defaults."""
    models = schema_models()
    assert len(models) == 7
    for model in models:
        runtime = getattr(config, model.__name__)
        fields = dataclasses.fields(runtime)
        assert [f.name for f in fields] == list(model.model_fields), model.__name__
        for f in fields:
            info = model.model_fields[f.name]
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                assert info.is_required(), f"{model.__name__}.{f.name}"
                continue
            ours = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            theirs = info.get_default(call_default_factory=True)
            theirs = config_schema._runtime(theirs)
            assert ours == theirs, f"{model.__name__}.{f.name}"


def test_embedded_default_is_what_the_schema_makes_of_a_mock_only_file() -> None:
    assert config.EMBEDDED_DEFAULT == config.validate({"providers": {"mock": {"type": "mock"}}}, "")
    assert config.parse(b"", "empty") == config.Settings()


def test_show_prints_what_the_schema_validated_in_its_order() -> None:
    raw = (ROOT / "config.example.toml").read_bytes()
    data = tomllib.loads(raw.decode())
    checked = config_schema.Settings.model_validate(data)
    dumped = checked.model_dump(mode="json", exclude_none=True)
    for pid, table in data["providers"].items():
        model = registry.plugin(table["type"]).settings_model()
        provider = model.model_validate(table).model_dump(mode="json", exclude_none=True)
        for key in model.secret_keys & provider.keys():
            provider[key] = config.masked(provider[key])
        dumped["providers"][pid] = provider
    shown = config.redacted_dict(config.parse(raw, "example"))
    assert json.dumps(shown) == json.dumps(dumped)


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
