"""``few_collections()``: the cyclic garbage collector paced for a long pass over many rows.

A `track` pass, a campaign's preview and its send pass make a few objects per row and free each
batch by reference counting. At the default threshold the collector runs every 700 allocations and
walks everything alive each time it reaches an older generation: the batches in hand and all
start-up built (a tenth of the CPU of a track pass, about 4 µs a campaign row). Inside the block it
runs less often, over the objects made inside the block only; the defaults come back after.

That is only safe while the pass makes no reference cycles per row or per call: garbage in a cycle
waits for the collector, and pacing lets it pile up (an httpx response and its body stream were one
such cycle, holding both bodies of each send: peak memory grew from 63 to 87 MB over 300,000 rows
until ``providers/http.py`` let the stream go). ``tests/test_gc_cycles.py`` keeps it that way.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLD = 20_000  # allocations between two collections of the youngest generation


@contextmanager
def few_collections() -> Iterator[None]:
    first, *rest = gc.get_threshold()
    gc.freeze()  # what exists before the block outlives it: not walked again inside
    gc.set_threshold(max(first, THRESHOLD), *rest)
    try:
        yield
    finally:
        gc.set_threshold(first, *rest)
        gc.unfreeze()
