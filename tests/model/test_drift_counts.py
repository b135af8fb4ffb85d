"""Drift counts: the time-bucket ring, its file form summed across processes, and the buffering recorder
(model/drift_counts.py, model/drift_files.py)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.drift import Baseline, fit_baseline
from model.drift_counts import CountRing, DriftRecorder, Window, read_all, read_version, window_of
from model.drift_files import clear, counts_file, publish_baseline, version_dir
from model.preprocess import Preprocessor
from tests.model.test_drift import small_schema


class Clock:
    """A settable clock: tests move time forward by hand instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fitted() -> tuple[Preprocessor, Baseline, np.ndarray, np.ndarray]:
    """A baseline on 400 rows of a numeric and a categorical feature, with the rows and scores it was fitted on."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"n": rng.normal(size=400), "c": rng.choice(["a", "b"], 400)})
    pre = Preprocessor.fit(frame, small_schema())
    x = pre.transform_frame(frame)
    scores = rng.random(400)
    return pre, fit_baseline(pre, x, scores, "binary", [0, 1]), x, scores


def test_window_buckets_and_ids() -> None:
    window = window_of(3600)
    assert (window.buckets, window.bucket_ms) == (12, 300_000)
    assert window.bucket(600.0) == 2 and window.bucket(899.999) == 2 and window.bucket(900.0) == 3
    since_start = window_of(0)
    assert (since_start.buckets, since_start.bucket_ms, since_start.bucket(1e9)) == (1, 0, 0)
    assert since_start.to_dict(0.0)["kind"] == "since_start"
    sliding = window.to_dict(3600.0 * 10 + 10)
    assert sliding["kind"] == "sliding" and sliding["bucket_seconds"] == 300.0
    # The oldest bucket counted starts 11 buckets before the current one (which started at 36000 s).
    assert sliding["start"] == "1970-01-01T09:05:00Z" and sliding["end"] == "1970-01-01T10:00:10Z"
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="drift window"):
            window_of(bad)


def test_ring_counts_age_out_of_the_window() -> None:
    ring = CountRing.in_memory(window_of(120), bins=3)  # 12 buckets of 10 s
    ring.add(np.array([1, 0, 0]), now=1000.0)
    ring.add(np.array([0, 2, 0]), now=1005.0)  # the same bucket
    ring.add(np.array([0, 0, 4]), now=1050.0)
    assert ring.total(1050.0).tolist() == [1, 2, 4]
    # 1000-1009 is the oldest bucket still inside a 120 s window at 1119, gone at 1120.
    assert ring.total(1119.0).tolist() == [1, 2, 4]
    assert ring.total(1120.0).tolist() == [0, 0, 4]
    # A slot reused by a later bucket starts from zero: 1120 falls in the slot 1000 used.
    ring.add(np.array([5, 0, 0]), now=1120.0)
    assert ring.total(1120.0).tolist() == [5, 0, 4]
    assert ring.total(1200.0).tolist() == [5, 0, 0]
    assert ring.total(5000.0).tolist() == [0, 0, 0]


def test_since_start_never_expires() -> None:
    ring = CountRing.in_memory(window_of(0), bins=2)
    ring.add(np.array([1, 1]), now=0.0)
    ring.add(np.array([2, 0]), now=1e9)
    assert ring.total(2e9).tolist() == [3, 1]


def test_file_ring_is_read_back_and_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "counts-1.bin"
    ring = CountRing.create(path, window_of(3600), bins=4)
    ring.add(np.array([1, 2, 3, 4]), now=7200.0)
    read = CountRing.from_bytes(path.read_bytes(), str(path))
    assert read.window == Window(3600, 12) and read.bins == 4
    assert read.total(7200.0).tolist() == [1, 2, 3, 4]
    assert int(np.frombuffer(path.read_bytes(), dtype="<i8")[4]) == os.getpid()
    for data, match in [
        (b"", "not a drift counts file"),
        (b"x" * 41, "not a drift counts file"),
        (b"\0" * 80, "bad header"),
        (path.read_bytes()[:-8], "words, expected"),
    ]:
        with pytest.raises(ValueError, match=match):
            CountRing.from_bytes(data, "f")


def test_recorder_buffers_then_counts_what_it_saw(
    fitted: tuple[Preprocessor, Baseline, np.ndarray, np.ndarray],
) -> None:
    _, baseline, x, scores = fitted
    clock = Clock()
    recorder = DriftRecorder(baseline, CountRing.in_memory(window_of(3600), baseline.n_bins), clock, flush_rows=64)
    for i in range(0, 300, 3):  # single rows and small batches, buffer overflows included
        recorder.observe(x[i : i + 3], scores[i : i + 3])
    recorder.observe(x[300:], scores[300:])  # a batch larger than the buffer is binned at once
    assert recorder.counts().tolist() == baseline.counts(x, scores).tolist()
    report = baseline.report(recorder.counts())
    assert report.rows == 400 and report.psi_max == pytest.approx(0.0, abs=1e-12)


def test_recorder_flushes_in_the_background(fitted: tuple[Preprocessor, Baseline, np.ndarray, np.ndarray]) -> None:
    _, baseline, x, scores = fitted
    ring = CountRing.in_memory(window_of(3600), baseline.n_bins)
    recorder = DriftRecorder(baseline, ring, Clock())
    recorder.observe(x[:5], scores[:5])
    assert ring.total(Clock()()).sum() == 0  # still buffered
    recorder.observe(x[:0], scores[:0])  # an empty batch changes nothing
    recorder.start(every=0.05)
    try:
        deadline = 200
        while ring.total(Clock()()).sum() == 0 and deadline:
            time.sleep(0.05)
            deadline -= 1
        assert ring.total(Clock()()).tolist() == baseline.counts(x[:5], scores[:5]).tolist()
    finally:
        recorder.stop()


def test_the_flush_thread_bins_what_requests_buffer_and_they_bin_nothing_below_the_cap(
    fitted: tuple[Preprocessor, Baseline, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below `flush_rows`, every batch is binned on the flush thread, however large; `stop` ends it at once."""
    _, baseline, x, scores = fitted
    ring = CountRing.in_memory(window_of(3600), baseline.n_bins)
    recorder = DriftRecorder(baseline, ring, Clock(), flush_rows=10_000)
    binned_on: list[str] = []
    real = baseline.counts

    def spy(*args: Any) -> Any:
        binned_on.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(baseline, "counts", spy)
    recorder.start(every=0.05)
    try:
        recorder.observe(x[:200], scores[:200])
        recorder.observe(x[200:], scores[200:])
        deadline = 200
        while ring.total(Clock()()).sum() < real(x, scores).sum() and deadline:
            time.sleep(0.02)
            deadline -= 1
        assert ring.total(Clock()()).tolist() == real(x, scores).tolist()
        assert binned_on and set(binned_on) == {"treeport-drift"}
    finally:
        began = time.monotonic()
        recorder.stop()
    assert recorder._thread is not None
    recorder._thread.join(5)
    assert not recorder._thread.is_alive() and time.monotonic() - began < 5


def test_recorder_refuses_a_ring_of_another_baseline(
    fitted: tuple[Preprocessor, Baseline, np.ndarray, np.ndarray],
) -> None:
    _, baseline, _, _ = fitted
    with pytest.raises(ValueError, match="bins"):
        DriftRecorder(baseline, CountRing.in_memory(window_of(60), baseline.n_bins + 1))


def test_versions_are_summed_across_processes(
    tmp_path: Path, fitted: tuple[Preprocessor, Baseline, np.ndarray, np.ndarray]
) -> None:
    """Two processes' files (pids 101 and 102) of one version sum to the counts of all their rows."""
    _, baseline, x, scores = fitted
    raw = json.dumps(baseline.to_dict()).encode()
    publish_baseline(tmp_path, "m", "v1", raw)
    publish_baseline(tmp_path, "m", "v1", raw)  # the second worker finds the same copy
    now = 1_800_000_000.0
    for pid, rows in ((101, slice(0, 150)), (102, slice(150, 400))):
        ring = CountRing.create(counts_file(tmp_path, "m", "v1", 0, pid), window_of(3600), baseline.n_bins)
        ring.add(baseline.counts(x[rows], scores[rows]), now)
    (version_dir(tmp_path, "m", "v1") / "counts-999.bin").write_bytes(b"junk")  # skipped, with a warning
    found = read_version(tmp_path, "m", "v1", now)
    assert found is not None and found.counters == 2
    assert found.counts.tolist() == baseline.counts(x, scores).tolist()
    assert found.window == window_of(3600)
    # A version folder without a baseline copy is not reported; read_all finds the one that has one.
    version_dir(tmp_path, "m", "v2").mkdir()
    assert read_version(tmp_path, "m", "v2", now) is None
    assert [(v.name, v.version) for v in read_all(tmp_path, now)] == [("m", "v1")]
    assert read_all(tmp_path / "absent", now) == []
    (version_dir(tmp_path, "m", "v1") / "notes.txt").write_text("not ours")
    clear(tmp_path)  # counts files and baseline copies only
    assert list(version_dir(tmp_path, "m", "v1").glob("*")) == [version_dir(tmp_path, "m", "v1") / "notes.txt"]
    assert read_version(tmp_path, "m", "v1", now) is None


def test_an_unusable_baseline_copy_is_skipped(tmp_path: Path) -> None:
    folder = version_dir(tmp_path, "m", "v1")
    folder.mkdir(parents=True)
    (folder / "baseline.json").write_text("{not json")
    assert read_version(tmp_path, "m", "v1", 0.0) is None
    (folder / "baseline.json").write_text('{"format_version": 1}')
    assert read_version(tmp_path, "m", "v1", 0.0) is None


def test_version_folders_take_only_safe_names(tmp_path: Path) -> None:
    from model.errors import UserError

    with pytest.raises(UserError, match="invalid model name"):
        version_dir(tmp_path, "../etc", "v1")


def test_recorder_counts_multiclass_outputs(fitted: tuple[Preprocessor, Baseline, np.ndarray, np.ndarray]) -> None:
    pre, _, x, _ = fitted
    probabilities = np.random.default_rng(6).dirichlet([1.0, 1.0, 1.0], size=len(x))
    baseline = fit_baseline(pre, x, probabilities, "multiclass", ["a", "b", "c"])
    recorder = DriftRecorder(baseline, CountRing.in_memory(window_of(0), baseline.n_bins), Clock(), flush_rows=50)
    for i in range(0, len(x), 7):
        recorder.observe(x[i : i + 7], probabilities[i : i + 7])
    assert recorder.counts().tolist() == baseline.counts(x, probabilities).tolist()
