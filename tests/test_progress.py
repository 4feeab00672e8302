"""Progress without a terminal: one line every 10 s of the (injected) clock; silent with -q/--json."""

from __future__ import annotations

import pytest

from kmsg_cli.output import Output


@pytest.mark.parametrize(
    ("options", "lines"), [({}, 2), ({"quiet": True}, 0), ({"json_mode": True}, 0)]
)
def test_periodic_lines_on_stderr(capsys: pytest.CaptureFixture[str], options, lines: int) -> None:
    now = [0]
    with Output(**options).progress(total=4000, now_ms=lambda: now[0]) as advance:
        for _ in range(4):
            now[0] += 6_000
            advance(1000, "1,000 accepted")
    captured = capsys.readouterr()
    assert captured.out == ""
    said = captured.err.splitlines()
    assert len(said) == lines
    if lines:
        assert said[0] == "kmsg: 2,000/4,000 rows, 1,000 accepted, 167/s"
