"""api.fastjson: orjson is a fast path only; with it or without it, bodies parse and responses read the same."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

import api.fastjson as fastjson
from api.errors import ApiError
from api.inputs import parse_json

BODIES = [
    b'{"instances": [{"a": 1, "b": "x", "c": null, "d": 2.5e-3}]}',
    b'{"a": 1, "a": 2}',  # duplicate keys: the last wins
    b"[18446744073709551615]",  # the largest uint64
    b"[18446744073709551616]",  # past 64 bits: orjson would make it a float
    b"[-9300000000000000000]",  # 19 digits, below the int64 minimum
    b"[1" + b"0" * 400 + b"]",  # past float64
    b'{"a": "\\ud800"}',  # a lone surrogate, which orjson refuses and the json module reads
    b"[1e400]",
    b"[-0.0, 5e-324, 1.7976931348623157e308]",
    b"[NaN]",
    b'{"a": Infinity}',
    b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
    b'"\xff"',  # not UTF-8
    b"[" * 5000 + b"]" * 5000,
    b'{"a": 1',
    b"  ",
]


def outcome(body: bytes) -> Any:
    """Return what `parse_json` makes of `body`: the value, or the error's status and code."""
    try:
        return ("ok", repr(parse_json(body)))
    except ApiError as exc:
        return ("error", exc.status, exc.code)


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_parse_is_the_same_with_and_without_orjson(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = outcome(body)
    monkeypatch.setattr(fastjson, "orjson", None)
    assert fast == outcome(body)


def test_huge_integers_stay_exact() -> None:
    assert parse_json(b"[18446744073709551616]") == [18446744073709551616]


@pytest.mark.parametrize("hide_orjson", [False, True])
def test_responses_read_the_same(app: Flask, record: dict, hide_orjson: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = app.test_client().post("/predict", json={"instances": [record]}).get_json()
    if hide_orjson:
        monkeypatch.setattr(fastjson, "orjson", None)
    response = app.test_client().post("/predict", json={"instances": [record]})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == reference
    error = app.test_client().post("/predict", data=b"{", content_type="application/json")
    assert error.status_code == 400 and error.get_json()["error"]["code"] == "malformed_json"


def test_int_keys_numpy_values_and_unicode(app: Flask) -> None:
    with app.app_context():
        text = app.json.dumps({0: np.float32(0.25), "b": np.int64(3), "é": "ü"})
    assert json.loads(text) == {"0": 0.25, "b": 3, "é": "ü"}


def _values(doc: object) -> int:
    """Count a parsed document's values as `api.inputs.Limits` does: itself, its array elements and object members."""
    if isinstance(doc, list):
        return 1 + sum(map(_values, doc))
    if isinstance(doc, dict):
        return 1 + sum(map(_values, doc.values()))
    return 1


JSON_DOCS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=2), inner, max_size=6),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(doc=JSON_DOCS)
def test_a_json_text_holds_at_most_one_value_per_two_bytes(doc: object) -> None:
    """What lets `check_json_size` skip counting a short body: n bytes of JSON hold at most n // 2 + 1 values."""
    import orjson

    text = orjson.dumps(doc)
    assert _values(doc) <= len(text) // 2 + 1


def test_a_short_body_of_too_many_rows_is_still_refused() -> None:
    """A body below the counting length still gets its 413 for too many rows, from the row check after parsing."""
    from api.inputs import Limits, check_json_size, json_rows, parse_json

    limits = Limits.for_model(2, 3)
    body = json.dumps({"instances": [{}, {}, {}]}).encode()
    check_json_size(body, limits)  # too short to hold too many values
    with pytest.raises(ApiError) as refused:
        json_rows(parse_json(body), limits)
    assert (refused.value.status, refused.value.code) == (413, "too_many_rows")
