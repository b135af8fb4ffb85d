"""What the process may use of this machine: the CPUs its cgroup allows and the CPU's vector ISA flags."""

from __future__ import annotations

import math
import os
from pathlib import Path

ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def allowed_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Return the CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (v2 or v1)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota(root: Path) -> float | None:
    try:
        fields = (root / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max":
            return int(fields[0]) / int(fields[1])
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def isa_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, bool]:
    """Return which of the vector ISA extensions that matter to oneDAL this CPU reports."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {}
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    return {flag: flag in flags for flag in ISA_FLAGS}
