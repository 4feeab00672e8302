"""Setting kmsg up: `kmsg config validate/init/add-provider` (issue 14's Setup part)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Kmsg


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
