"""Where drift counts live on disk: the folder of each model version, its files' names, and clearing them.

Kept apart from model/drift_counts.py (which needs numpy) so that gunicorn's master can clear an earlier run's
counts before it forks any worker without importing numpy.

    <dir>/<model>/<version>/baseline.json       a copy of the version's baseline, for readers without the bundle
    <dir>/<model>/<version>/counts-<pid>-<n>.bin  one process's counts of its n-th model load (model/drift_counts.py)
"""

from __future__ import annotations

import os
from pathlib import Path

from model.bundle import check_name

BASELINE_COPY = "baseline.json"
COUNTS_PREFIX = "counts-"
COUNTS_SUFFIX = ".bin"


def version_dir(directory: Path, name: str, version: str) -> Path:
    """Return the folder of one model version's counts (names checked: they become path components)."""
    return directory / check_name(name) / check_name(version, "version")


def counts_file(directory: Path, name: str, version: str, load: int, pid: int | None = None) -> Path:
    """Return the counts file of this process's (or `pid`'s) `load`-th model load, of a model version.

    One file per load, not per process: a process that serves a version again (a rollback) keeps the counts it made
    the first time, and two apps in one process never share a file.
    """
    return version_dir(directory, name, version) / f"{COUNTS_PREFIX}{pid or os.getpid()}-{load}{COUNTS_SUFFIX}"


def counts_files(folder: Path) -> list[Path]:
    """Return the counts files in one version's folder, sorted."""
    return sorted(folder.glob(f"{COUNTS_PREFIX}*{COUNTS_SUFFIX}"))


def publish_baseline(directory: Path, name: str, version: str, baseline_json: bytes) -> None:
    """Copy a version's baseline beside its counts (atomically), so readers without the bundle can compute PSI."""
    folder = version_dir(directory, name, version)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / BASELINE_COPY
    if target.exists() and target.read_bytes() == baseline_json:
        return
    tmp = folder / f".{BASELINE_COPY}.{os.getpid()}"
    tmp.write_bytes(baseline_json)
    tmp.replace(target)


def clear(directory: Path) -> None:
    """Remove the counts files and baseline copies under `directory` (a server starting afresh), nothing else."""
    for pattern in (f"*/*/{COUNTS_PREFIX}*{COUNTS_SUFFIX}", f"*/*/{BASELINE_COPY}"):
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)
