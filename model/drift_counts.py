"""Counting served rows against a drift baseline: per process, in a window of time buckets, summed at read time.

The hot path only keeps a prediction's encoded rows and outputs in a list (`DriftRecorder.observe`); the
binning (`Baseline.counts`, model/drift.py) runs on a batch of buffered rows, when the buffer fills, at least once a
second from a background thread, and before this process reads its own counts. Batching is what keeps the cost off
the request: binning one row costs about as much numpy overhead as binning hundreds.

The window is a ring of `RING_BUCKETS` time buckets (`CountRing`): a count lands in the bucket of the time it is
flushed, and a reader sums the buckets of the last `window_seconds` (the oldest one partly aged out, so the window
covers between window - window/12 and window seconds). A window of 0 means one bucket that never expires: counts
since the process started.

Across processes (gunicorn workers): each process writes only its own files, one per model it loads,
`<dir>/<model>/<version>/counts-<pid>-<n>.bin` (model/drift_files.py), memory-mapped arrays of int64 words:

    [0] MAGIC  [1] bins  [2] buckets  [3] bucket length in ms (0: since start)  [4] pid
    [5 : 5 + buckets]                      the bucket id each slot holds (time // bucket length), -1 while reset
    [5 + buckets : 5 + buckets * (1 + bins)]  the counts, one row of `bins` per slot

and a reader (any worker, or gunicorn's master serving the metrics port) sums the windows of every such file of a
model version (`read_version`), next to the baseline a worker copied there (`baseline.json`). The files of workers
that exited still count: they served those rows. No locks between processes: a reader racing a writer's flush can
miss part of that flush until its next read, never count a row twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.drift import Baseline
from model.drift_files import BASELINE_COPY, counts_files, version_dir

log = logging.getLogger("treeport.drift")

MAGIC = 0x3154_4649_5244_5054  # "TPDRIFT1" read as a little-endian int64
HEADER_WORDS = 5
RING_BUCKETS = 12
FLUSH_ROWS = 65_536
"""Rows buffered at most: the request that brings the buffer to this many bins them itself (some 7 MB of a 26-column
model); below it the flush thread does, off the request path."""
COUNT_ALONE_ROWS = 4096
"""A buffered batch of this many rows is binned by itself; smaller ones are binned together."""
FLUSH_SECONDS = 1.0
"""Longest a buffered row waits for the background flush (how stale another process's view of this one can be)."""

Clock = Callable[[], float]


@dataclass(frozen=True)
class Window:
    """What a count window covers: `seconds` (0: since the process started) in `buckets` buckets."""

    seconds: float
    buckets: int

    @property
    def bucket_ms(self) -> int:
        """Return one bucket's length in milliseconds (0 for since-start)."""
        return round(self.seconds * 1000 / self.buckets) if self.seconds else 0

    def bucket(self, now: float) -> int:
        """Return the id of the bucket `now` (epoch seconds) falls in."""
        ms = self.bucket_ms
        return int(now * 1000 // ms) if ms else 0

    def to_dict(self, now: float) -> dict[str, Any]:
        """Return the JSON form: kind, length, buckets, and the span counted at `now`."""
        if not self.seconds:
            return {"kind": "since_start", "seconds": None, "buckets": 1, "bucket_seconds": None, "end": _iso(now)}
        ms = self.bucket_ms
        oldest = (self.bucket(now) - self.buckets + 1) * ms / 1000
        return {
            "kind": "sliding",
            "seconds": self.seconds,
            "buckets": self.buckets,
            "bucket_seconds": ms / 1000,
            "start": _iso(oldest),
            "end": _iso(now),
        }


def window_of(seconds: float) -> Window:
    """Return the window of `seconds` (0: since start) in `RING_BUCKETS` buckets."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"a drift window is 0 or a positive number of seconds, got {seconds}")
    return Window(seconds, RING_BUCKETS if seconds else 1)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class CountRing:
    """A ring of time buckets of flat bin counts, over a plain array or a memory-mapped file's words."""

    def __init__(self, words: np.ndarray, window: Window, bins: int) -> None:
        self.window = window
        self.bins = bins
        self._words = words
        self.ids = words[HEADER_WORDS : HEADER_WORDS + window.buckets]
        self.counts = words[HEADER_WORDS + window.buckets :].reshape(window.buckets, bins)

    @staticmethod
    def words_needed(window: Window, bins: int) -> int:
        """Return the length in int64 words of a ring (header included)."""
        return HEADER_WORDS + window.buckets * (1 + bins)

    @classmethod
    def in_memory(cls, window: Window, bins: int) -> CountRing:
        """Return a ring of this process only (no file): Lambda, tests, an app outside gunicorn."""
        words = np.zeros(cls.words_needed(window, bins), dtype="<i8")
        return cls._initialised(words, window, bins)

    @classmethod
    def create(cls, path: Path, window: Window, bins: int) -> CountRing:
        """Create `path` (replacing any earlier file) and return the ring mapped onto it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        size = cls.words_needed(window, bins) * 8
        with path.open("wb") as f:
            f.truncate(size)
        words = np.memmap(path, dtype="<i8", mode="r+", shape=(size // 8,))
        return cls._initialised(words, window, bins)

    @classmethod
    def _initialised(cls, words: np.ndarray, window: Window, bins: int) -> CountRing:
        words[:HEADER_WORDS] = (MAGIC, bins, window.buckets, window.bucket_ms, os.getpid())
        words[HEADER_WORDS : HEADER_WORDS + window.buckets] = -1
        return cls(words, window, bins)

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> CountRing:
        """Return a read-only ring over a counts file's bytes; raise `ValueError` naming `source` if it is not one."""
        if len(data) < HEADER_WORDS * 8 or len(data) % 8:
            raise ValueError(f"{source}: not a drift counts file ({len(data)} bytes)")
        words = np.frombuffer(data, dtype="<i8")
        magic, bins, buckets, bucket_ms = (int(v) for v in words[:4])
        if magic != MAGIC or bins < 1 or buckets < 1 or bucket_ms < 0:
            raise ValueError(f"{source}: not a drift counts file (bad header)")
        window = Window(bucket_ms * buckets / 1000, buckets)
        if len(words) != cls.words_needed(window, bins):
            raise ValueError(f"{source}: {len(words)} words, expected {cls.words_needed(window, bins)}")
        return cls(words, window, bins)

    def add(self, counts: np.ndarray, now: float) -> None:
        """Add flat bin counts to the bucket of `now`, resetting its slot first if it held an older bucket."""
        bucket = self.window.bucket(now)
        slot = bucket % self.window.buckets
        if self.ids[slot] != bucket:
            # Marked invalid while reset, so a reader never reads the new bucket's id over the old bucket's counts.
            self.ids[slot] = -1
            self.counts[slot] = 0
            self.ids[slot] = bucket
        self.counts[slot] += counts

    def total(self, now: float) -> np.ndarray:
        """Return the counts of the buckets inside the window at `now`."""
        newest = self.window.bucket(now)
        live = (self.ids > newest - self.window.buckets) & (self.ids <= newest)
        return np.asarray(self.counts[live].sum(axis=0, dtype=np.int64))


class DriftRecorder:
    """Buffers served rows and flushes their bin counts into a `CountRing`; `observe` is the Predictor's hook."""

    def __init__(
        self,
        baseline: Baseline,
        ring: CountRing,
        clock: Clock = time.time,
        flush_rows: int = FLUSH_ROWS,
    ) -> None:
        if ring.bins != baseline.n_bins:
            raise ValueError(f"the ring counts {ring.bins} bins, the baseline has {baseline.n_bins}")
        self.baseline = baseline
        self.ring = ring
        self.clock = clock
        self.flush_rows = flush_rows
        self._lock = threading.Lock()  # the buffer
        self._flushing = threading.Lock()  # one flush at a time, so the ring takes them in order
        self._xs: list[np.ndarray] = []
        self._outs: list[np.ndarray] = []
        self._pending = 0
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by `stop`, so that the thread ends without waiting out its period
        self._thread: threading.Thread | None = None

    def observe(self, x: np.ndarray, outputs: np.ndarray) -> None:
        """Take one prediction's encoded rows and the model's outputs for them, to bin later.

        Both arrays are kept, not copied (a copy costs more than everything else here): the caller hands them over
        and does not change them afterwards, as the Predictor does with the matrix it encoded and the fresh outputs
        its backend returns. The flush thread bins them every `FLUSH_SECONDS`, off the request path (it is not
        woken sooner: binning while this request still writes its answer would slow the answer by as much); a
        request that brings the buffer to `flush_rows` (no thread runs, or it fell behind) bins them itself.
        """
        with self._lock:
            self._xs.append(x)
            self._outs.append(outputs)
            self._pending += len(x)
            pending = self._pending
        if pending >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """Bin the buffered rows into the ring now."""
        with self._flushing:
            self._flush_held()

    def _flush_held(self) -> None:
        with self._lock:  # the buffer is taken whole; new rows go to a fresh one while these are binned
            xs, outs = self._xs, self._outs
            self._xs, self._outs, self._pending = [], [], 0
        if not xs:
            return
        counts = np.zeros(self.baseline.n_bins, dtype=np.int64)
        small = []
        for x, o in zip(xs, outs, strict=True):
            if len(x) >= COUNT_ALONE_ROWS:  # a large batch alone: no copy into one matrix
                counts += self.baseline.counts(x, o)
            else:
                small.append((x, o))
        if small:
            x = np.concatenate([x for x, _ in small])
            counts += self.baseline.counts(x, np.concatenate([o for _, o in small]))
        self.ring.add(counts, self.clock())

    def counts(self) -> np.ndarray:
        """Return this process's counts in the window, after flushing the buffer."""
        with self._flushing:
            self._flush_held()
            return self.ring.total(self.clock())

    def start(self, every: float = FLUSH_SECONDS) -> None:
        """Flush from a daemon thread every `every` seconds, so other processes see this one's rows soon."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._flush_loop, args=(every,), name="treeport-drift", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the flush thread (after a last flush)."""
        self._stop.set()
        self._wake.set()
        self.flush()

    def _flush_loop(self, every: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(every)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a counting bug must never take serving down; it is logged
                log.exception("drift: flush failed")


@dataclass(frozen=True)
class VersionCounts:
    """One model version's counts in the window, summed over the processes (and loads) that served it."""

    name: str
    version: str
    baseline: Baseline
    counts: np.ndarray
    counters: int
    """Count files summed: one per worker (live or exited) and load of this version."""
    window: Window


def read_version(directory: Path, name: str, version: str, now: float) -> VersionCounts | None:
    """Sum the window at `now` of every process's counts of one version; None without a baseline copy there.

    A file that is not a counts file of this baseline (truncated, another layout) is skipped with a warning.
    """
    folder = version_dir(directory, name, version)
    try:
        raw = json.loads((folder / BASELINE_COPY).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError as exc:
        log.warning("drift: %s: unreadable baseline copy (%s)", folder / BASELINE_COPY, exc)
        return None
    try:
        baseline = Baseline.from_dict(raw, str(folder / BASELINE_COPY))
    except Exception as exc:  # noqa: BLE001 (BundleIntegrityError; a reader reports, it never fails a scrape)
        log.warning("drift: %s", exc)
        return None
    total = np.zeros(baseline.n_bins, dtype=np.int64)
    counters = 0
    window: Window | None = None
    for path in counts_files(folder):
        try:
            ring = CountRing.from_bytes(path.read_bytes(), str(path))
            if ring.bins != baseline.n_bins:
                raise ValueError(f"{path}: {ring.bins} bins, the baseline has {baseline.n_bins}")
        except (OSError, ValueError) as exc:
            log.warning("drift: skipping %s", exc)
            continue
        total += ring.total(now)
        counters += 1
        window = window or ring.window
    return VersionCounts(name, version, baseline, total, counters, window or Window(0, 1))


def read_all(directory: Path, now: float) -> list[VersionCounts]:
    """Return the counts of every model version with a baseline copy under `directory`."""
    out: list[VersionCounts] = []
    if not directory.is_dir():
        return out
    for model_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        for folder in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            try:
                found = read_version(directory, model_dir.name, folder.name, now)
            except Exception as exc:  # noqa: BLE001 (a stray folder with an unsafe name: not ours)
                log.warning("drift: skipping %s (%s)", folder, exc)
                continue
            if found is not None:
                out.append(found)
    return out
