"""``dumps(obj)``: the text of ``json.dumps(obj, ensure_ascii=False)``, character for character,
without building a new encoder on every call.

The row path encodes two small documents per message (what the row key digests, and the journal
row's metadata). ``json.dumps`` with any option set builds its encoder again on each call, which
costs as much as encoding a short document; this builds it once. Only for documents of JSON's own
types (str, int, float, bool, None, list, tuple, dict with str keys) with no cycles: anything
else raises TypeError as ``json.dumps`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any


def _build() -> Callable[[Any], str]:
    stdlib = json.JSONEncoder(ensure_ascii=False)
    make = getattr(_encoder, "c_make_encoder", None)  # None without CPython's accelerator
    if make is None:  # pragma: no cover - every CPython build kmsg supports has it
        return stdlib.encode
    chunks = make(
        None, stdlib.default, _encoder.encode_basestring, None, ": ", ", ", False, False, True
    )
    plain = _encoder.encode_basestring

    def dumps(obj: Any) -> str:
        if isinstance(obj, str):  # the encoder proper takes containers and numbers only
            return plain(obj)
        return "".join(chunks(obj, 0))

    return dumps


dumps = _build()
