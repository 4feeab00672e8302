"""One simulated host for the multi-host test (test_many_hosts.py): a real process running kmsg
commands in-process with a clock of its own (the wall clock plus an offset).

    python -m tests.store.hostsim send PLAN.json        # run each kmsg command of the plan
    python -m tests.store.hostsim loop STOP OFFSET_S ARG...   # run one command until STOP exists

KMSG_HOME and KMSG_DB come from the environment, as on a real host.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from kmsg_cli.app import app
from kmsg_cli.context import AppContext


class OffsetClock:
    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def sleep(self, seconds: float) -> None:  # loops here never wait: the caller paces them
        return None


def kmsg(args: list[str], offset_ms: int = 0) -> int:
    result = CliRunner().invoke(app, args, obj=AppContext(clock=OffsetClock(offset_ms)))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def main(argv: list[str]) -> None:
    role = argv[0]
    if role == "send":
        for args in json.loads(Path(argv[1]).read_text()):
            kmsg(args)
        return
    stop, offset_ms, args = Path(argv[1]), int(argv[2]) * 1000, argv[3:]
    while not stop.exists():
        kmsg(args, offset_ms)


if __name__ == "__main__":
    main(sys.argv[1:])
