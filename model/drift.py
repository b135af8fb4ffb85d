"""Drift against a training baseline: fit the baseline, bin encoded rows against it, and compute PSI.

A baseline is fitted on encoded rows as the model sees them (the held-out test rows are the natural choice: what
live traffic should look like) and on the model's outputs for those rows. Per numeric feature: quantile cut points
(deciles, ties merged) and the share of rows in each bin, the missing values a bin of their own (so the null rate
drifts like any other share). Per categorical feature: the share of each trained category, and one bin for
"missing or unseen" (the encoder gives both the same all-NaN one-hot block). The score: the positive-class
probability (binary) or the value (regression) in quantile bins, the predicted class (multiclass) as a category.

Every bin of every feature and of the score has one slot in a flat count vector (`Baseline.counts`), and
`Baseline.report` turns counts into PSI per feature, so any two places that count with them give the same figures.

PSI (population stability index) over bins with expected shares e and actual shares a:
    PSI = sum((a_i - e_i) * ln(a_i / e_i)),  each share floored at `PSI_FLOOR` so an empty bin stays finite.
Above 0.2 is the usual "significant shift" (`DEFAULT_THRESHOLD`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from model.errors import BundleIntegrityError

if TYPE_CHECKING:
    from model.preprocess import Preprocessor

BASELINE_FORMAT = 1
QUANTILE_BINS = 10
DEFAULT_THRESHOLD = 0.2
PSI_FLOOR = 1e-4
MISSING = "(missing)"
MISSING_OR_UNSEEN = "(missing or unseen)"
SCORE = "score"
# Rows `Baseline.counts` compares at a time: a chunk's operands stay in the CPU cache.
COUNT_CHUNK_ROWS = 8192


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Return the PSI of two share (or count) vectors over the same bins; counts are normalised first."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"PSI needs two vectors over the same bins, got shapes {e.shape} and {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("PSI needs at least one count on each side")
    e = np.maximum(e / e.sum(), PSI_FLOOR)
    a = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class BinnedFeature:
    """One feature's (or the score's) bins: labels, expected shares, and what the lookup needs."""

    name: str
    kind: str
    """numeric or categorical (a feature); score (binned like numeric) or label (multiclass, like categorical)."""
    labels: tuple[str, ...]
    expected: tuple[float, ...]
    edges: tuple[float, ...] = ()
    """Numeric and score: the interior cut points; bin 0 is missing, bin 1 + (number of edges <= value) the rest."""
    columns: tuple[int, ...] = ()
    """Encoded columns: one for numeric, the one-hot block for categorical; none for the score."""

    @property
    def binned_like_numbers(self) -> bool:
        """Return whether values are cut at edges (numeric features and the score of binary/regression)."""
        return self.kind in ("numeric", SCORE)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "labels": list(self.labels)}
        out["expected"] = list(self.expected)
        if self.binned_like_numbers:
            out["edges"] = list(self.edges)
        if self.columns:
            out["columns"] = list(self.columns)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BinnedFeature:
        """Rebuild from `to_dict` output."""
        return cls(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            labels=tuple(str(v) for v in raw["labels"]),
            expected=tuple(float(v) for v in raw["expected"]),
            edges=tuple(float(v) for v in raw.get("edges", ())),
            columns=tuple(int(v) for v in raw.get("columns", ())),
        )


def _edge_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    if not edges:
        return (MISSING, "any value")
    inner = [f"[{lo:.4g}, {hi:.4g})" for lo, hi in pairwise(edges)]
    return (MISSING, f"< {edges[0]:.4g}", *inner, f">= {edges[-1]:.4g}")


def _quantile_edges(values: np.ndarray, bins: int) -> tuple[float, ...]:
    """Return the interior cut points of `bins` quantile bins of the non-missing values, ties merged."""
    present = values[~np.isnan(values)].astype(np.float64)
    if present.size == 0:
        return ()
    # Served values are float32 (the encoded matrix): so are the cuts, or a value equal to one would fall below it.
    cuts = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]).astype(np.float32).astype(np.float64)
    # A cut at or below the minimum would leave its lower bin empty in the baseline.
    return tuple(float(c) for c in np.unique(cuts) if c > present.min())


def float32_ceiling(edges: np.ndarray) -> np.ndarray:
    """Return, for each float64 edge, the smallest float32 at or above it (+inf past float32's range; NaN stays NaN):
    for every float32 value v, `v >= edge` exactly when `v >= float32_ceiling(edge)`."""
    edges = np.asarray(edges, dtype=np.float64)
    with np.errstate(over="ignore"):  # past float32's largest: +inf, which is at or above the edge
        ceiling = edges.astype(np.float32)
        below = ceiling.astype(np.float64) < edges  # rounded to the nearer float32 below: take the next one up
        ceiling[below] = np.nextafter(ceiling[below], np.float32(np.inf))
    return ceiling


def _numeric_ids(values: np.ndarray, edges: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Return each value's bin within its feature: 0 if missing, else 1 + the number of edges <= it."""
    ids = np.searchsorted(np.asarray(edges, dtype=np.float64), values.astype(np.float64), side="right") + 1
    ids[np.isnan(values)] = 0
    return ids


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's (or the score's) comparison with the baseline."""

    name: str
    kind: str
    psi: float | None
    drifting: bool
    labels: tuple[str, ...]
    expected: tuple[float, ...]
    actual: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: PSI, flag, the missing share on both sides, and every bin."""
        return {
            "name": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "drifting": self.drifting,
            "status": "no_rows" if self.psi is None else ("drifting" if self.drifting else "ok"),
            "missing": {"expected": self.expected[0], "actual": self.actual[0]}
            if self.labels and self.labels[0] in (MISSING, MISSING_OR_UNSEEN)
            else None,
            "bins": [
                {"label": label, "expected": e, "actual": a}
                for label, e, a in zip(self.labels, self.expected, self.actual, strict=True)
            ],
        }


@dataclass(frozen=True)
class DriftReport:
    """PSI of every feature and of the score over `rows` served rows, flagged against `threshold`."""

    rows: int
    threshold: float
    features: tuple[FeatureDrift, ...]
    score: FeatureDrift

    @property
    def drifting(self) -> list[str]:
        """Return the names of the features whose PSI passes the threshold (the score is reported apart)."""
        return [f.name for f in self.features if f.drifting]

    @property
    def psi_max(self) -> float | None:
        """Return the largest PSI of any feature or the score, None before any row was counted."""
        values = [f.psi for f in (*self.features, self.score) if f.psi is not None]
        return max(values) if values else None

    @property
    def alarm(self) -> bool:
        """Return whether any feature or the score passes the threshold."""
        return self.score.drifting or bool(self.drifting)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by `GET /monitoring` and `treeport monitor --json`."""
        return {
            "rows": self.rows,
            "threshold": self.threshold,
            "psi_max": self.psi_max,
            "alarm": self.alarm,
            "drifting": self.drifting,
            "score": self.score.to_dict(),
            "features": [f.to_dict() for f in self.features],
        }


class Baseline:
    """The training-time distribution of every feature and of the score, and the lookups that bin served rows."""

    def __init__(self, features: tuple[BinnedFeature, ...], score: BinnedFeature, rows: int, columns: int) -> None:
        self.features = features
        self.score = score
        self.rows = rows
        self.columns = columns
        """Width of the encoded matrix the baseline was fitted on."""
        self.offsets: list[int] = []
        total = 0
        for f in (*features, score):
            self.offsets.append(total)
            total += len(f.labels)
        self.n_bins = total
        # Numeric: a value's bin is 1 + the number of edges <= it (as `_numeric_ids`, the lookup the baseline was
        # fitted with), counted by one comparison per edge of all numeric features at once: with a few edges each,
        # that is a third of the time of a `searchsorted` per feature. Short edge lists are padded with NaN, which no
        # value is >= of.
        numeric = [(i, f) for i, f in enumerate(features) if f.kind == "numeric"]
        self._numeric_columns = np.array([f.columns[0] for _, f in numeric], dtype=np.intp)
        width = max((len(f.edges) for _, f in numeric), default=0)
        self._numeric_edges = np.full((len(numeric), width), np.nan)
        for j, (_, f) in enumerate(numeric):
            self._numeric_edges[j, : len(f.edges)] = f.edges
        # The encoded matrix is float32, and a float32 value is >= an edge exactly when it is >= the smallest float32
        # at or above that edge: those edges compare the columns as they are (a quarter of the bytes of float64),
        # and a bin below 255 fits in a byte.
        self._numeric_edges32 = float32_ceiling(self._numeric_edges)
        self._bin_type = np.uint8 if width < 255 else np.intp
        self._numeric_offsets = np.array([[self.offsets[i]] for i, _ in numeric], dtype=np.intp).reshape(-1, 1)
        categorical = [(i, f) for i, f in enumerate(features) if f.kind == "categorical"]
        # Categorical: a row's code in each feature is the dot product of its one-hot block with 1..k; a missing
        # or unseen category is NaN across the block, so its code is NaN, read as bin 0.
        one_hot = [c for _, f in categorical for c in f.columns]
        self._one_hot_columns = np.array(one_hot, dtype=np.intp)
        self._codes = np.zeros((len(one_hot), len(categorical)), dtype=np.float32)
        position = 0
        for j, (_, f) in enumerate(categorical):
            for k in range(len(f.columns)):
                self._codes[position, j] = k + 1
                position += 1
        self._categorical_offsets = np.array([self.offsets[i] for i, _ in categorical], dtype=np.intp)
        self._score_edges = np.asarray(score.edges, dtype=np.float64)

    @property
    def output_width(self) -> int:
        """Return the model's outputs per row: one (probability or value), or one per class (multiclass)."""
        return len(self.score.labels) - 1 if self.score.kind == "label" else 1

    @property
    def names(self) -> list[str]:
        """Return the feature names, in schema order."""
        return [f.name for f in self.features]

    def counts(self, x: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """Return the flat bin counts (int64, `n_bins` long) of encoded rows `x` and the model's `outputs` for them."""
        n = len(x)
        n_numeric, n_categorical = len(self._numeric_columns), len(self._categorical_offsets)
        # Every row's bin in every feature and the score, one row of `ids` each, counted by one bincount.
        ids = np.empty((n_numeric + n_categorical + 1, n), dtype=np.intp)
        for start in range(0, n, COUNT_CHUNK_ROWS):  # in chunks: the comparisons' operands stay in cache
            stop = min(start + COUNT_CHUNK_ROWS, n)
            chunk = x[start:stop]
            if n_numeric:
                ids[:n_numeric, start:stop] = self._numeric_bins(chunk[:, self._numeric_columns].T)
                ids[:n_numeric, start:stop] += self._numeric_offsets
            if n_categorical:
                # NaN (missing or unseen) becomes 0 first (fmax drops NaN): in the product a NaN would spill into
                # every feature's code.
                block = np.fmax(chunk[:, self._one_hot_columns], 0.0)
                codes = (block @ self._codes).astype(np.intp) + self._categorical_offsets
                ids[n_numeric:-1, start:stop] = codes.T
        ids[-1] = self._score_ids(outputs, n)
        return np.bincount(ids.ravel(), minlength=self.n_bins).astype(np.int64)

    def _numeric_bins(self, values: np.ndarray) -> np.ndarray:
        """Return the bin of each value of `values` (numeric features by rows) within its feature, 0 when missing."""
        if values.dtype == np.float32:
            edges, bins = self._numeric_edges32, np.ones(values.shape, dtype=self._bin_type)
        else:
            edges, bins = self._numeric_edges, np.ones(values.shape, dtype=np.intp)
            values = values.astype(np.float64)
        for j in range(edges.shape[1]):
            bins += values >= edges[:, j : j + 1]
        bins[np.isnan(values)] = 0
        return bins

    def _score_ids(self, outputs: np.ndarray, n: int) -> np.ndarray:
        offset = self.offsets[-1]
        if self.score.kind == "label":
            return np.asarray(outputs).reshape(n, -1).argmax(axis=1) + (offset + 1)
        return _numeric_ids(np.asarray(outputs, dtype=np.float64).reshape(n), self._score_edges) + offset

    def report(self, counts: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> DriftReport:
        """Compare flat bin counts with the baseline: PSI per feature and for the score, flagged at `threshold`."""
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (self.n_bins,):
            raise ValueError(f"expected {self.n_bins} bin counts, got shape {counts.shape}")
        parts = [
            _compare(f, counts[start : start + len(f.labels)], threshold)
            for f, start in zip((*self.features, self.score), self.offsets, strict=True)
        ]
        rows = int(counts[self.offsets[-1] :].sum())
        return DriftReport(rows=rows, threshold=threshold, features=tuple(parts[:-1]), score=parts[-1])

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored as `baseline.json`."""
        return {
            "format_version": BASELINE_FORMAT,
            "rows": self.rows,
            "columns": self.columns,
            "features": [f.to_dict() for f in self.features],
            "score": self.score.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: Any, source: str = "baseline.json") -> Baseline:
        """Rebuild from `to_dict` output; raise `BundleIntegrityError` naming `source` if it is not one."""
        try:
            if raw.get("format_version") != BASELINE_FORMAT:
                raise ValueError(f"unsupported format_version {raw.get('format_version')!r}")
            features = tuple(BinnedFeature.from_dict(f) for f in raw["features"])
            baseline = cls(features, BinnedFeature.from_dict(raw["score"]), int(raw["rows"]), int(raw["columns"]))
            for f in (*features, baseline.score):
                if len(f.labels) != len(f.expected) or (f.binned_like_numbers and len(f.labels) != len(f.edges) + 2):
                    raise ValueError(f"bins of {f.name!r} do not match their labels")
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise BundleIntegrityError(f"{source}: not a usable baseline ({exc})") from None
        return baseline


def _compare(feature: BinnedFeature, counts: np.ndarray, threshold: float) -> FeatureDrift:
    total = int(counts.sum())
    actual = tuple(float(c) / total for c in counts) if total else tuple(0.0 for _ in counts)
    value = psi(np.array(feature.expected), counts) if total else None
    return FeatureDrift(
        name=feature.name,
        kind=feature.kind,
        psi=value,
        drifting=value is not None and value > threshold,
        labels=feature.labels,
        expected=feature.expected,
        actual=actual,
    )


def _shares(ids: np.ndarray, bins: int) -> tuple[float, ...]:
    counts = np.bincount(ids, minlength=bins)
    return tuple(float(c) for c in counts / max(int(counts.sum()), 1))


def fit_baseline(
    preprocessor: Preprocessor,
    x: np.ndarray,
    outputs: np.ndarray,
    task: str,
    classes: list[Any],
    bins: int = QUANTILE_BINS,
) -> Baseline:
    """Fit the baseline on encoded rows `x` (the test split) and the model's `outputs` for them."""
    if len(x) == 0:
        raise ValueError("a baseline needs at least one row")
    from model.schema import NumericFeature

    features: list[BinnedFeature] = []
    for feature, (name, columns) in zip(preprocessor.features, preprocessor.feature_columns(), strict=True):
        if isinstance(feature, NumericFeature):
            values = x[:, columns[0]]
            edges = _quantile_edges(values, bins)
            labels = _edge_labels(edges)
            expected = _shares(_numeric_ids(values, edges), len(labels))
            features.append(BinnedFeature(name, "numeric", labels, expected, edges, columns))
            continue
        labels = (MISSING_OR_UNSEEN, *preprocessor.trained_categories.get(name, []))
        block = x[:, list(columns)] if columns else np.full((len(x), 1), np.nan, dtype=np.float32)
        codes = np.where(np.isnan(block[:, 0]), 0, block.argmax(axis=1) + 1) if columns else np.zeros(len(x), int)
        features.append(BinnedFeature(name, "categorical", labels, _shares(codes, len(labels)), (), columns))
    if task == "multiclass":
        labels = (MISSING, *(str(c) for c in classes))
        ids = np.asarray(outputs).reshape(len(x), -1).argmax(axis=1) + 1
        score = BinnedFeature(SCORE, "label", labels, _shares(ids, len(labels)))
    else:
        values = np.asarray(outputs, dtype=np.float64).reshape(len(x))
        edges = _quantile_edges(values, bins)
        labels = _edge_labels(edges)
        score = BinnedFeature(SCORE, SCORE, labels, _shares(_numeric_ids(values, edges), len(labels)), edges)
    return Baseline(tuple(features), score, rows=len(x), columns=preprocessor.n_columns)


def plot_drift(drift: FeatureDrift, title: str) -> bytes:
    """Return a PNG of one feature's (or the score's) shares per bin, baseline beside served.

    matplotlib is imported here only, through its Agg canvas (no pyplot): the slim serving image has none.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    positions = np.arange(len(drift.labels))
    ax.bar(positions - 0.2, drift.expected, width=0.4, label="baseline (test split)")
    ax.bar(positions + 0.2, drift.actual, width=0.4, label="served")
    ax.set_xticks(positions, drift.labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of rows")
    shown = "n/a" if drift.psi is None else f"{drift.psi:.3f}"
    ax.set_title(f"{title}: {drift.name} (PSI {shown})")
    ax.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
