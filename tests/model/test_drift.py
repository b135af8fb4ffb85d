"""Drift: PSI against a hand computation, and the baseline's bins and lookups (model/drift.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from model.drift import (
    COUNT_CHUNK_ROWS,
    MISSING,
    MISSING_OR_UNSEEN,
    PSI_FLOOR,
    Baseline,
    fit_baseline,
    float32_ceiling,
    plot_drift,
    psi,
)
from model.errors import BundleIntegrityError
from model.preprocess import Preprocessor
from model.schema import Schema


def test_psi_matches_a_hand_computation() -> None:
    # Two bins swap a quarter of the rows: 0.25*ln(0.5/0.25) + 0 + (-0.25)*ln(0.25/0.5) = 0.5*ln 2.
    assert psi(np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.25, 0.25])) == pytest.approx(0.5 * math.log(2), abs=1e-12)
    # Counts are normalised first: the same shares give the same PSI.
    assert psi(np.array([100, 100, 200]), np.array([2, 1, 1])) == pytest.approx(0.5 * math.log(2), abs=1e-12)
    assert psi(np.array([0.1, 0.9]), np.array([0.1, 0.9])) == 0.0


def test_psi_floors_an_empty_bin() -> None:
    # Served rows all land in the first bin: the second bin's actual share 0 is floored at PSI_FLOOR.
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5)
    assert psi(np.array([0.5, 0.5]), np.array([7, 0])) == pytest.approx(expected, abs=1e-12)
    assert math.isfinite(psi(np.array([1.0, 0.0]), np.array([0.0, 1.0])))


@pytest.mark.parametrize(
    ("expected", "actual", "match"),
    [([0.5, 0.5], [1.0], "same bins"), ([0.0, 0.0], [1.0, 1.0], "at least one count"), ([1, 1], [0, 0], "at least")],
)
def test_psi_refuses_vectors_it_cannot_compare(expected: list[float], actual: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        psi(np.array(expected), np.array(actual))


def small_schema() -> Schema:
    return Schema.from_dict(
        {
            "target": {"name": "y", "task": "binary", "classes": [0, 1], "positive_class": 1},
            "features": [
                {"name": "n", "type": "numeric", "nullable": True},
                {"name": "c", "type": "categorical", "categories": ["a", "b", "z"], "nullable": True},
            ],
        }
    )


@pytest.fixture
def small() -> tuple[Preprocessor, Baseline, np.ndarray]:
    """A baseline fitted by hand-checkable data: n = 1..100 (10 NaN), c = a/b in 3:1; scores 0..0.99."""
    frame = pd.DataFrame(
        {
            "n": [float(v) if v % 10 else None for v in range(1, 101)],
            "c": ["a", "a", "a", "b"] * 25,
        }
    )
    pre = Preprocessor.fit(frame, small_schema())
    x = pre.transform_frame(frame)
    scores = np.arange(100) / 100
    return pre, fit_baseline(pre, x, scores, "binary", [0, 1]), x


def test_baseline_bins_are_quantiles_with_missing_apart(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    pre, baseline, _ = small
    n, c = baseline.features
    assert n.kind == "numeric" and n.labels[0] == MISSING
    assert len(n.edges) == 9 and list(n.edges) == sorted(n.edges)
    assert n.expected[0] == pytest.approx(0.10)  # the ten missing values
    assert sum(n.expected[1:]) == pytest.approx(0.90)
    # Deciles of 90 values put 9 in each of the 10 value bins.
    assert list(n.expected[1:]) == pytest.approx([0.09] * 10)
    # "z" was never seen in training, so it has no column: it shares the missing-or-unseen bin.
    assert c.labels == (MISSING_OR_UNSEEN, "a", "b") and c.expected == pytest.approx((0.0, 0.75, 0.25))
    assert baseline.score.labels[0] == MISSING and baseline.score.expected[0] == 0.0
    assert baseline.n_bins == len(n.labels) + len(c.labels) + len(baseline.score.labels)
    assert baseline.columns == pre.n_columns


def test_counts_of_the_baseline_rows_give_the_baseline(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    _, baseline, x = small
    report = baseline.report(baseline.counts(x, np.arange(100) / 100))
    assert report.rows == 100
    assert [f.psi for f in report.features] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert report.score.psi == pytest.approx(0.0, abs=1e-12)
    assert report.drifting == [] and not report.alarm


def test_lookup_puts_each_value_in_its_bin(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    pre, baseline, _ = small
    n, c = baseline.features
    below, between, above = n.edges[0] - 1, (n.edges[3] + n.edges[4]) / 2, n.edges[-1] + 1000
    records = [
        {"n": below, "c": "a"},
        {"n": between, "c": "b"},
        {"n": above, "c": "z"},  # a known category the training split never showed
        {"n": n.edges[2], "c": None},  # a value on an edge goes to the bin above it
        {"n": None, "c": "a"},
    ]
    x = pre.transform_records(records)
    counts = baseline.counts(x, np.array([0.0, 0.5, 0.995, 0.2, 0.3]))
    numeric, categorical = counts[: len(n.labels)], counts[len(n.labels) : len(n.labels) + len(c.labels)]
    assert numeric.tolist() == np.bincount([1, 5, 10, 4, 0], minlength=len(n.labels)).tolist()
    assert categorical.tolist() == [2, 2, 1]  # missing-or-unseen (z, None), a, b
    assert counts.sum() == 3 * len(records)


def test_vectorised_lookup_matches_searchsorted_per_value() -> None:
    """A differential test: the padded-edge lookup of many features against a row-by-row searchsorted."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"n": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)})
    frame.loc[rng.random(500) < 0.1, "n"] = None
    pre = Preprocessor.fit(frame, small_schema())
    x = pre.transform_frame(frame)
    baseline = fit_baseline(pre, x, rng.random(500), "binary", [0, 1])
    served = pd.DataFrame({"n": rng.normal(1.0, 2.0, 300), "c": rng.choice(["a", "b", "z"], 300)})
    served.loc[rng.random(300) < 0.3, "n"] = None
    xs = pre.transform_frame(served)
    scores = rng.random(300)
    counts = baseline.counts(xs, scores)
    np.testing.assert_array_equal(baseline.counts(xs.astype(np.float64), scores), counts)  # float64 rows compare alike
    n = baseline.features[0]
    expected_bins = [0 if math.isnan(v) else 1 + int(np.searchsorted(n.edges, v, side="right")) for v in xs[:, 0]]
    assert counts[: len(n.labels)].tolist() == np.bincount(expected_bins, minlength=len(n.labels)).tolist()
    score_bins = [1 + int(np.searchsorted(baseline.score.edges, s, side="right")) for s in scores]
    tail = counts[baseline.offsets[-1] :]
    assert tail.tolist() == np.bincount(score_bins, minlength=len(baseline.score.labels)).tolist()


def test_counts_match_a_lookup_per_value_for_many_features_across_chunks() -> None:
    """Several numeric features with different edge counts (none, for a constant one) and categorical ones, in more
    rows than `Baseline.counts` compares at a time: every feature's counts are those of a searchsorted per value."""
    rng = np.random.default_rng(11)
    n_rows = COUNT_CHUNK_ROWS * 2 + 17
    schema = Schema.from_dict(
        {
            "target": {"name": "y", "task": "binary", "classes": [0, 1], "positive_class": 1},
            "features": [
                {"name": "a", "type": "numeric", "nullable": True},
                {"name": "c", "type": "categorical", "categories": ["x", "y", "z"], "nullable": True},
                {"name": "b", "type": "numeric", "nullable": True},
                {"name": "k", "type": "numeric", "nullable": True},
                {"name": "d", "type": "categorical", "categories": ["p", "q"], "nullable": True},
            ],
        }
    )
    fitted = pd.DataFrame(
        {
            "a": rng.normal(size=2000),
            "c": rng.choice(["x", "y", "z"], 2000),
            "b": rng.integers(0, 4, 2000).astype(float),  # ties: fewer edges than bins
            "k": np.full(2000, 3.0),  # constant: no edges at all
            "d": rng.choice(["p", "q"], 2000),
        }
    )
    pre = Preprocessor.fit(fitted, schema)
    baseline = fit_baseline(pre, pre.transform_frame(fitted), rng.random(2000), "binary", [0, 1])
    served = pd.DataFrame(
        {
            "a": rng.normal(0.5, 2.0, n_rows),
            "c": rng.choice(["x", "y", "z", "w"], n_rows),
            "b": rng.integers(-1, 6, n_rows).astype(float),
            "k": rng.normal(3.0, 1.0, n_rows),
            "d": rng.choice(["p", "q"], n_rows),
        }
    )
    for name in ("a", "b", "k", "c"):
        served.loc[rng.random(n_rows) < 0.1, name] = None
    xs = pre.transform_frame(served)
    scores = rng.random(n_rows)
    counts = baseline.counts(xs, scores)
    assert int(counts.sum()) == n_rows * (len(baseline.features) + 1)
    for feature, offset in zip(baseline.features, baseline.offsets, strict=False):
        if feature.kind != "numeric":
            continue
        values = xs[:, feature.columns[0]]
        bins = [0 if math.isnan(v) else 1 + int(np.searchsorted(feature.edges, v, side="right")) for v in values]
        expected = np.bincount(bins, minlength=len(feature.labels))
        assert counts[offset : offset + len(feature.labels)].tolist() == expected.tolist(), feature.name
    k = baseline.features[3]
    assert k.edges == () and counts[baseline.offsets[3] + 1] == int((~np.isnan(xs[:, k.columns[0]])).sum())


def test_a_shift_raises_the_psi_of_that_feature_only(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    pre, baseline, _ = small
    records = [{"n": float(v % 90 + 1) * 3, "c": "ab"[v % 4 == 0]} for v in range(400)]
    report = baseline.report(baseline.counts(pre.transform_records(records), np.arange(400) / 400 % 1))
    by_name = {f.name: f for f in report.features}
    assert by_name["n"].psi is not None and by_name["n"].psi > 0.2
    assert by_name["c"].psi is not None and by_name["c"].psi < 0.01
    assert report.drifting == ["n"] and report.alarm
    assert by_name["n"].to_dict()["missing"] == {"expected": pytest.approx(0.1), "actual": 0.0}


def test_no_rows_give_no_psi(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    _, baseline, _ = small
    report = baseline.report(np.zeros(baseline.n_bins, dtype=np.int64))
    assert report.rows == 0 and report.psi_max is None and not report.alarm
    assert all(f.psi is None for f in report.features)


def test_multiclass_score_is_the_predicted_class(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    pre, _, x = small
    probabilities = np.tile([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], (50, 1))
    baseline = fit_baseline(pre, x, probabilities, "multiclass", ["a", "b", "c"])
    assert baseline.score.kind == "label" and baseline.score.expected == pytest.approx((0, 0.5, 0, 0.5))
    counts = baseline.counts(x[:4], np.array([[0.1, 0.8, 0.1]] * 4))
    assert counts[baseline.offsets[-1] :].tolist() == [0, 0, 4, 0]


def test_baseline_round_trips_and_refuses_garbage(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    _, baseline, x = small
    raw = json.loads(json.dumps(baseline.to_dict()))
    again = Baseline.from_dict(raw)
    assert again.to_dict() == baseline.to_dict()
    assert again.counts(x, np.arange(100) / 100).tolist() == baseline.counts(x, np.arange(100) / 100).tolist()
    for bad in ({}, {"format_version": 9}, {**raw, "features": [{"name": "n"}]}, [], {**raw, "rows": "x"}):
        with pytest.raises(BundleIntegrityError, match=r"m/v/baseline\.json: not a usable baseline"):
            Baseline.from_dict(bad, "m/v/baseline.json")
    truncated = {**raw, "score": {**raw["score"], "expected": raw["score"]["expected"][:-1]}}
    with pytest.raises(BundleIntegrityError, match="do not match"):
        Baseline.from_dict(truncated)


def test_plot_is_a_png(small: tuple[Preprocessor, Baseline, np.ndarray]) -> None:
    _, baseline, x = small
    report = baseline.report(baseline.counts(x, np.arange(100) / 100))
    assert plot_drift(report.features[0], "m 1").startswith(b"\x89PNG\r\n\x1a\n")


def test_float32_ceilings_compare_as_the_float64_edges() -> None:
    """Edges between float32s, on them, at float32's limits and beyond: every float32 value near one compares with
    its ceiling as it compares with the edge itself."""
    rng = np.random.default_rng(5)
    f32 = np.finfo(np.float32)
    largest = float(f32.max)
    edges = np.concatenate(
        [
            [0.1, -0.1, 1 / 3, 0.0, -0.0, 1.0, 2.0**-149, largest, -largest, 1e39, -1e39, 1e-50, np.nan],
            [largest * (1 + 2**-30), -largest * (1 + 2**-30)],  # round to the largest float32, yet are past it
            rng.normal(0, 1e3, 200),
            rng.normal(0, 1, 200).astype(np.float32).astype(np.float64),  # exactly representable
        ]
    )
    ceilings = float32_ceiling(edges)
    assert ceilings.dtype == np.float32 and np.isnan(ceilings[12])
    for edge, ceiling in zip(edges[:12].tolist() + edges[13:].tolist(), np.delete(ceilings, 12), strict=True):
        near = np.float32(edge) if abs(edge) <= largest else np.float32(math.copysign(largest, edge))
        with np.errstate(over="ignore"):  # the next float32 past the largest is inf
            up, down = np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(-np.inf))
        values = np.array([near, down, up, np.inf, -np.inf], dtype=np.float32)
        assert ((values >= ceiling) == (values.astype(np.float64) >= edge)).all(), edge
