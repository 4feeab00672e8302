"""Tab completes option values, not only option names: message types, statuses, provider ids (read
from the config file in use, fast and never failing) and provider types. Driven the way the
installed scripts in completions/ drive it: kmsg run with _KMSG_COMPLETE and the words typed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def complete(line: str, home: Path, **env: str) -> list[str]:
    """What bash offers after ``line`` (its last word is being typed; "" after a space)."""
    words = line.split(" ")
    result = subprocess.run(
        [sys.executable, "-m", "kmsg_cli"],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KMSG_HOME": str(home),
            "_KMSG_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout.split()


def test_types_statuses_and_provider_types(kmsg_home: Path) -> None:
    assert complete("kmsg send --type ", kmsg_home) == [
        "SMS",
        "LMS",
        "MMS",
        "ALIMTALK",
        "BRAND",
        "FRIENDTALK",
    ]
    assert complete("kmsg status --type AL", kmsg_home) == ["ALIMTALK"]
    assert complete("kmsg status --status DE", kmsg_home) == ["DELIVERED"]
    assert complete("kmsg status --status de", kmsg_home) == ["delivered"]  # taken either way
    assert complete("kmsg queue list --status p", kmsg_home) == ["pending", "processing"]
    assert complete("kmsg config add-provider x --type s", kmsg_home) == ["solapi"]


def test_provider_ids_come_from_the_config_in_use(kmsg_home: Path, tmp_path: Path) -> None:
    assert complete("kmsg send --provider ", kmsg_home) == ["mock"]  # no file: the built-in mock
    (kmsg_home / "config.toml").write_text(
        '[providers.sms_main]\ntype = "solapi"\napi_key = "env:K"\n'
        '[providers.kakao]\ntype = "iwinv"\n',
        encoding="utf-8",
    )
    for line in ("kmsg send --provider ", "kmsg status --provider ", "kmsg track --provider "):
        assert complete(line, kmsg_home) == ["sms_main", "kakao"], line
    assert complete("kmsg providers doctor --provider k", kmsg_home) == ["kakao"]

    other = tmp_path / "other.toml"
    other.write_text('[providers.backup]\ntype = "aligo"\n', encoding="utf-8")
    assert complete(f"kmsg --config {other} send --provider ", kmsg_home) == ["backup"]
    assert complete("kmsg send-bulk --provider ", kmsg_home, KMSG_CONFIG=str(other)) == ["backup"]


@pytest.mark.parametrize("broken", ["[providers.x\n", "\xff", "providers = 3\n"])
def test_a_broken_config_completes_nothing_and_says_nothing(kmsg_home: Path, broken: str) -> None:
    (kmsg_home / "config.toml").write_text(broken, encoding="utf-8")
    assert complete("kmsg send --provider ", kmsg_home) == []
