"""``few_collections()``: the cyclic garbage collector paced for a long pass over many rows.

A `track` pass makes a few objects per record and frees each batch by reference counting. At the
default threshold the collector runs every 700 allocations and walks everything alive each time it
reaches an older generation: the batches in hand and all start-up built (a tenth of the CPU of a
pass). Inside the block it runs less often, over the objects made inside the block only; the
defaults come back after. Not for `send-bulk`: there the same pacing saves 4 µs a row but lets
peak memory grow with the rows (63 MB -> 87 MB at 300,000 rows), against its flat-memory promise.
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
