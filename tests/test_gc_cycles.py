"""A campaign makes no reference cycles per row or per provider call (kmsg_cli/core/gcpace.py).

`send-bulk` paces the cyclic garbage collector, which is only safe while garbage is freed by
reference counting: a cycle made per call (an httpx response bound to its body stream was one)
waits for a collection, and under pacing its bodies piled up with the rows (63 -> 87 MB peak over
300,000 rows). Here the cyclic garbage of a run of 3 calls and of a run of 7 must be the same.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fake_solapi import FakeSolapi
from tests.conftest import FakeClock, Kmsg, solapi_server

KEY, SECRET = "GCKEY0001", "GCSECRET0001"
CLIENT = ("kmsg_cli", "httpx", "httpcore", "h11")  # the fake server shares the process: not it


@pytest.fixture
def solapi(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET, pf_id=None) as server:
        yield server


def campaign_garbage(kmsg: Kmsg, csv: Path, rows: int) -> Counter[str]:
    """The client's objects only a collection would free, by type, after one campaign."""
    csv.write_text(
        "phone,name\n" + "".join(f"010{30_000_000 + i:08d},고객{i}\n" for i in range(rows))
    )
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage to count
    try:
        result = kmsg("send-bulk", str(csv), "--text", "{name}님 안녕하세요", "--yes", "-q")
        assert result.exit_code == 0, result.output
        gc.collect()
        return Counter(
            f"{type(o).__module__}.{type(o).__qualname__}"
            for o in gc.garbage
            if type(o).__module__.split(".")[0] in CLIENT
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_a_campaign_makes_no_cycles_per_call_or_row(
    kmsg: Kmsg, solapi: FakeSolapi, tmp_path: Path
) -> None:
    small = campaign_garbage(kmsg, tmp_path / "small.csv", 2_500)  # 3 calls of up to 1,000
    large = campaign_garbage(kmsg, tmp_path / "large.csv", 6_500)  # 7 calls
    assert solapi.stats()["messages"] == 9_000
    grew = {name: large[name] - small[name] for name in large if large[name] > small[name]}
    assert grew == {}
