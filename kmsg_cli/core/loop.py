"""The one polling loop behind `kmsg track` and `kmsg queue work`."""

from __future__ import annotations

from collections.abc import Callable


def run_every(
    run_pass: Callable[[], object],
    sleep: Callable[[float], None],
    interval: float,
    stopping: Callable[[], bool],
    tick: float = 0.25,
) -> None:
    """Run a pass at once (TRK-9), then every ``interval`` seconds until ``stopping()``. A stop
    request is honoured between passes, so the records in hand are always finished."""
    while not stopping():
        run_pass()
        waited = 0.0
        while waited < interval and not stopping():
            step = min(tick, interval - waited)
            sleep(step)
            waited += step
