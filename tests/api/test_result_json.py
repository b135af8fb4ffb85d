"""Results written straight from the output arrays are the bytes the JSON provider writes of the result dicts
(api/dataplane.py `Prediction.json`, `result_lines`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.dataplane import Prediction, result_lines
from model.predictor import Predictions

PREDICTOR: Any = SimpleNamespace(name="credit-risk", version="20261204-000000-abcdef01")
LABELS = st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), st.booleans())
EDGES = [0.0, 0.5, np.nextafter(np.float32(0.5), np.float32(0)), 1.0, 1e-8, 3.4e38, -3.4e38, np.nan, 1e-45]


def provider_bytes(prediction: Prediction) -> bytes:
    """What `jsonify` writes (api/fastjson.py's options), without its newline."""
    return orjson.dumps(prediction.body(), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(allow_nan=True, width=32), st.sampled_from(EDGES)), min_size=1, max_size=40),
    negative=LABELS,
    positive=LABELS,
)
def test_binary_results_are_the_provider_bytes(values: list[float], negative: Any, positive: Any) -> None:
    outputs = np.array(values, dtype=np.float32)
    prediction = Prediction(PREDICTOR, Predictions("binary", (negative, positive), outputs))
    assert prediction.json() == provider_bytes(prediction)
    lines = result_lines(prediction.predictions, b"\n")
    assert lines is not None
    assert lines.split(b"\n") == [orjson.dumps(r) for r in prediction.results]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=40))
def test_regression_results_are_the_provider_bytes(values: list[float]) -> None:
    prediction = Prediction(PREDICTOR, Predictions("regression", (), np.array(values, dtype=np.float32)))
    assert prediction.json() == provider_bytes(prediction)


def test_labels_needing_escapes_and_a_tie_at_one_half() -> None:
    outputs = np.array([0.5, 0.4999999, 0.75, np.nan], dtype=np.float32)
    prediction = Prediction(PREDICTOR, Predictions("binary", ('no "way"', "ja\n✓},{"), outputs))
    assert prediction.json() == provider_bytes(prediction)
    assert [r["label"] for r in orjson.loads(prediction.json() or b"")["predictions"]] == [
        "ja\n✓},{",
        'no "way"',
        "ja\n✓},{",
        'no "way"',
    ]


@pytest.mark.parametrize(
    "predictions",
    [
        Predictions("multiclass", ("a", "b", "c"), np.full((3, 3), 1 / 3, dtype=np.float32)),
        Predictions("binary", (0, 1), np.zeros(0, dtype=np.float32)),
        Predictions("binary", (object(), 1), np.array([0.2], dtype=np.float32)),
    ],
    ids=["multiclass", "empty", "label-orjson-cannot-write"],
)
def test_what_it_does_not_write_is_left_to_the_provider(predictions: Predictions) -> None:
    assert Prediction(PREDICTOR, predictions).json() is None
