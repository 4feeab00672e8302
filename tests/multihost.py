"""One simulated host of tests/test_multi_host.py: a separate OS process that runs a list of kmsg
commands one after another, on a clock moved ``offset_ms`` ahead of the wall clock.

    python -m tests.multihost SCRIPT.json RESULTS.jsonl

SCRIPT.json is ``{"offset_ms": N, "commands": [[arg, ...], ...]}``. Each command runs in this
process (``--json`` is added), as the console script would, with ``AppContext(clock=...)``; its
result is appended to RESULTS.jsonl as ``{"i", "argv", "code", "doc"}`` and flushed before the next
command starts, so a host killed with SIGKILL leaves exactly the results of the commands it
finished. The environment gives the host its own ``KMSG_HOME`` and the shared ``KMSG_DB``.

Also here: ``NotKakaoSolapi``, the fake SOLAPI server whose AlimTalks to some recipients end
"not a KakaoTalk user" (3104), and which can hold one recipient's send request unanswered.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.fake_solapi import Answer, FakeSolapi

NOT_KAKAO_CODE, NOT_KAKAO_TEXT = "3104", "카카오톡 미사용자"


class ShiftedClock:
    """The wall clock moved ``offset_ms`` forward: "a minute later" without waiting a minute.
    The first ``sleep`` creates ``slept``: a loop (``queue work``) is running, its SIGTERM
    handler installed, so the test may stop it."""

    def __init__(self, offset_ms: int, slept: Path) -> None:
        self.offset_ms = offset_ms
        self.slept = slept

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def sleep(self, seconds: float) -> None:
        self.slept.touch()
        time.sleep(seconds)  # queue work's wait between passes, a fraction of a second here


def run(script_path: Path, results_path: Path) -> None:
    from typer.testing import CliRunner

    from kmsg_cli.app import app
    from kmsg_cli.context import AppContext

    script = json.loads(script_path.read_text(encoding="utf-8"))
    clock = ShiftedClock(int(script["offset_ms"]), results_path.with_suffix(".slept"))
    with results_path.open("a", encoding="utf-8") as out:
        for i, argv in enumerate(script["commands"]):
            ctx = AppContext(clock=clock)
            try:
                result = CliRunner().invoke(app, [*argv, "--json"], obj=ctx)
            finally:
                if ctx._store is not None:
                    ctx._store.close()
            lines = [line for line in result.stdout.splitlines() if line.strip()]
            doc: Any = json.loads(lines[-1]) if lines else {"stderr": result.stderr}
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                doc = {"exception": repr(result.exception), "stdout": result.stdout}
            out.write(json.dumps({"i": i, "argv": argv, "code": result.exit_code, "doc": doc}))
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())


class NotKakaoSolapi(FakeSolapi):
    """An AlimTalk (``ATA``) to a recipient in ``not_kakao`` is accepted, then reported FAILED
    with 3104; ``hold(to)``: the first send request carrying ``to`` is stored, then held with no
    answer until ``release()`` (``held`` is set meanwhile): a host killed inside its provider
    call, after the provider took the message."""

    def __init__(self, *args: Any, not_kakao: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.not_kakao = not_kakao
        self.held = threading.Event()
        self._hold_to: str | None = None
        self._let_go = threading.Event()

    def hold(self, to: str) -> None:
        self._hold_to = to

    def release(self) -> None:
        self._let_go.set()
        super().release()

    def stop(self) -> None:
        self._let_go.set()
        super().stop()

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> Answer:
        answer = super().handle(method, target, authorization, body)
        if not target.startswith("/messages/v4/send-many") or self._hold_to is None:
            return answer
        try:
            recipients = {str(m.get("to")) for m in json.loads(body)["messages"]}
        except (ValueError, KeyError, TypeError):
            return answer
        if self._hold_to not in recipients:
            return answer
        self._hold_to = None  # once
        self.held.set()
        self._let_go.wait()
        return None  # the connection closes: the client never learns the provider has it

    def _store(self, messages: list[dict[str, Any]], allow_duplicates: bool = False) -> Any:
        answer = super()._store(messages, allow_duplicates)
        for mid in self._order[len(self._order) - len(messages) :]:
            row = self._stored[mid]
            if row["type"] == "ATA" and row["to"] in self.not_kakao and row["dateReceived"]:
                row["statusCode"], row["statusMessage"] = NOT_KAKAO_CODE, NOT_KAKAO_TEXT
        return answer


if __name__ == "__main__":
    run(Path(sys.argv[1]), Path(sys.argv[2]))
