"""jsontext.dumps writes what json.dumps(..., ensure_ascii=False) writes: a row key digests this
text, so one character of difference would make a rerun send every row of a campaign again."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmsg_cli.core.jsontext import dumps

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
)  # text() includes quotes, backslashes, control characters, Hangul and emoji
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(documents)
def test_the_same_text_as_json_dumps(doc: object) -> None:
    assert dumps(doc) == json.dumps(doc, ensure_ascii=False)


def test_what_json_cannot_hold_is_a_type_error_as_in_json_dumps() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps(["row", object()])
