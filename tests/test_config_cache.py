"""A config file that passed its check is not checked again (config_cache.py): the same bytes give
the same settings without loading pydantic; any change, a literal secret or a plugin's provider
type means a full check, so a cached answer is never a wrong one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kmsg_cli import config, config_cache
from kmsg_cli.errors import ConfigError

GOOD = """
[providers.sol]
type = "solapi"
api_key = "env:SOL_KEY"
api_secret = "file:~/sol.secret"
default_from = "0212345678"
base_url = "http://127.0.0.1:9"

[routing]
default = "sol"
by_type = { LMS = ["sol"] }

[tracking]
backoff_seconds = [10, 20]

[prices]
SMS = 9.9
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KMSG_HOME", str(tmp_path))
    return tmp_path


def entries(home: Path) -> list[Path]:
    return sorted((home / "cache").glob("config-*.json")) if (home / "cache").exists() else []


def test_the_second_load_gives_the_same_settings_from_a_private_entry(home: Path) -> None:
    path = home / "config.toml"
    path.write_text(GOOD)
    first = config.load(path, required=True)
    [entry] = entries(home)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert config_cache.load(path.read_bytes(), path) == first
    assert config.load(path, required=True) == first


def test_a_cached_load_never_imports_pydantic(home: Path) -> None:
    path = home / "config.toml"
    path.write_text(GOOD)
    config.load(path, required=True)
    probe = (
        "import sys; from pathlib import Path; from kmsg_cli import config; "
        f"s = config.load(Path({str(path)!r}), required=True); "
        "print(sorted(s.providers), 'pydantic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=os.environ
    ).stdout
    assert out.strip() == "['sol'] False"


def test_a_changed_file_is_checked_again(home: Path) -> None:
    path = home / "config.toml"
    path.write_text(GOOD)
    config.load(path, required=True)
    path.write_text(GOOD.replace("[10, 20]", "[10, -20]"))  # one byte: now invalid
    with pytest.raises(ConfigError, match="backoff_seconds"):
        config.load(path, required=True)
    path.write_text(GOOD.replace("SMS = 9.9", "SMS = 8.8"))
    assert config.load(path, required=True).prices == {"SMS": 8.8}


def test_a_literal_secret_is_never_copied_into_the_cache(home: Path) -> None:
    path = home / "config.toml"
    path.write_text(GOOD.replace('"env:SOL_KEY"', '"sk-literal-0000"'))
    assert config.load(path, required=True).providers["sol"].api_key == "sk-literal-0000"
    assert entries(home) == []


def test_an_unreadable_or_foreign_entry_means_a_full_check(home: Path) -> None:
    path = home / "config.toml"
    path.write_text(GOOD)
    good = config.load(path, required=True)
    [entry] = entries(home)
    entry.write_text("{not json")
    assert config.load(path, required=True) == good  # checked again, and remembered again
    assert config_cache.load(path.read_bytes(), path) == good
    entry.write_text('{"key": "another file", "settings": {}}')
    assert config_cache.load(path.read_bytes(), path) is None


def test_a_cache_folder_that_cannot_be_written_changes_nothing(home: Path) -> None:
    (home / "cache").write_text("a file where the folder would be")
    path = home / "config.toml"
    path.write_text(GOOD)
    assert config.load(path, required=True).routing.default == "sol"
