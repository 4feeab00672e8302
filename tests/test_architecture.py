"""Import direction (docs/architecture.md#layers-and-import-rules): core is pure; adapters never
reach commands or output."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kmsg_cli"
CORE_FORBIDDEN = {"typer", "rich", "httpx", "sqlite3", "platformdirs", "click"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_io_frameworks() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        bad = {n for n in imports(path) if n.split(".")[0] in CORE_FORBIDDEN}
        bad |= {
            n
            for n in imports(path)
            if n.startswith(
                (
                    "kmsg_cli.store",
                    "kmsg_cli.providers",
                    "kmsg_cli.commands",
                    "kmsg_cli.output",
                    "kmsg_cli.context",
                    "kmsg_cli.config",
                )
            )
        }
        assert not bad, f"{path.name} imports {bad}"


def test_adapters_and_store_never_import_commands_or_output() -> None:
    for folder in ("providers", "store"):
        for path in (PACKAGE / folder).rglob("*.py"):
            bad = {
                n
                for n in imports(path)
                if n.startswith(
                    ("kmsg_cli.commands", "kmsg_cli.output", "kmsg_cli.app", "typer", "rich")
                )
            }
            assert not bad, f"{folder}/{path.name} imports {bad}"


def test_nothing_imports_click_directly() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert not {n for n in imports(path) if n.split(".")[0] == "click"}, path


def test_only_output_prints() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.name == "output.py":
            continue
        calls = [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not calls, f"print() in {path}"
