from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_completion_scripts_are_current() -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "completions" / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for shell, name in generate.FILES.items():
        committed = (ROOT / "completions" / name).read_text()
        assert committed == generate.script(shell), f"run: python completions/generate.py ({name})"
        assert "_KMSG_COMPLETE" in committed
