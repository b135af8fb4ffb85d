"""What the process may use of this machine, and whether that suits oneDAL: the hardware report.

Everything here reads local files only (`/proc`, `/sys/fs/cgroup`) and the environment; nothing calls the
network (no instance metadata service), so the same report comes out in a pod, a SageMaker container, a Lambda
or a laptop. The paths are arguments so that tests read fixture trees instead of this machine's.
"""

from __future__ import annotations

import math
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")

# The /proc/cpuinfo flags that decide which oneDAL kernels can run: AVX2; the AVX-512 subsets oneDAL's own
# detection requires together (F, DQ, BW, VL); VNNI and BF16, which it reports as features; AMX tiles.
ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
AVX512_FOR_ONEDAL = ("avx512f", "avx512dq", "avx512bw", "avx512vl")

# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit value; anything this large is no limit.
_V1_UNLIMITED = 1 << 60

INSTANCE_TYPE_ENV = "TREEPORT_INSTANCE_TYPE"
# Set in SageMaker training containers (the SageMaker training toolkit); hosting sets no such variable, so
# endpoints are told their type through TREEPORT_INSTANCE_TYPE.
SAGEMAKER_INSTANCE_TYPE_ENV = "SM_CURRENT_INSTANCE_TYPE"
# EC2 and SageMaker instance types: optional "ml.", family letters, generation, attribute letters (i = Intel,
# a = AMD, g = Graviton, d = local NVMe, n = network, ...), an optional "-flex", then the size.
_INSTANCE_TYPE = re.compile(r"^(?:ml\.)?(?P<family>[a-z]+)(?P<generation>\d+)(?P<attrs>[a-z]*)(?:-flex)?\.[a-z0-9]+$")
# Intel families from the 6th generation on (Ice Lake, Sapphire Rapids, Emerald/Granite Rapids) all have AVX-512;
# m7i/c7i/r7i (4th-gen Xeon) add AMX. Earlier "i" types (i3, i4i storage) are left out of the rule.
_INTEL_AVX512_FROM_GENERATION = 6


@dataclass(frozen=True)
class CgroupLimits:
    """The CPU and memory limits of this process's cgroup (the tightest along its path)."""

    version: int | None
    """2 (unified), 1 (legacy controllers), or None when no cgroup filesystem was found."""
    cpu_quota: float | None
    """CPUs' worth of run time per period (1.5 = one and a half CPUs), or None without a quota."""
    memory_limit_bytes: int | None
    """The memory limit in bytes, or None without one."""


def read_cgroup(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> CgroupLimits:
    """Return this process's cgroup CPU quota and memory limit (v2, else v1), the tightest along its path.

    The process's own cgroup comes from `/proc/self/cgroup`; inside a container with its own cgroup namespace
    that path is `/` and the limits sit at the mount's root. Every ancestor up to the root is read, because a
    parent's limit binds its children too.
    """
    paths = _self_cgroup_paths(self_cgroup)
    if (root / "cgroup.controllers").is_file():
        dirs = _ancestors(root, paths.get("", "/"))
        quotas = [q for d in dirs if (q := _v2_cpu_quota(d)) is not None]
        limits = [m for d in dirs if (m := _read_limit(d / "memory.max")) is not None]
        return CgroupLimits(2, min(quotas, default=None), min(limits, default=None))
    cpu_dirs = _v1_dirs(root, paths, "cpu")
    memory_dirs = _v1_dirs(root, paths, "memory")
    if not cpu_dirs and not memory_dirs:
        return CgroupLimits(None, None, None)
    quotas = [q for d in cpu_dirs if (q := _v1_cpu_quota(d)) is not None]
    limits = [m for d in memory_dirs if (m := _read_limit(d / "memory.limit_in_bytes")) is not None]
    return CgroupLimits(1, min(quotas, default=None), min(limits, default=None))


def _self_cgroup_paths(self_cgroup: Path) -> dict[str, str]:
    """Return {controller: path} from /proc/self/cgroup; the v2 entry ("0::/path") is under ""."""
    out: dict[str, str] = {}
    try:
        text = self_cgroup.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            out[controller] = parts[2]
    return out


def _ancestors(mount: Path, path: str) -> list[Path]:
    """Return the cgroup directory for `path` under `mount` and each parent up to the mount, deepest first.

    A path that does not exist under the mount (a container seeing its host's path through a cgroup namespace
    it does not own) falls back to the mount itself.
    """
    leaf = mount / path.strip("/") if path.strip("/") else mount
    if not leaf.is_dir():
        return [mount]
    dirs = [leaf]
    while dirs[-1] != mount and mount in dirs[-1].parents:
        dirs.append(dirs[-1].parent)
    return dirs


def _v1_dirs(root: Path, paths: dict[str, str], controller: str) -> list[Path]:
    """Return the v1 directories of one controller (mounted alone or co-mounted, e.g. cpu,cpuacct)."""
    for mount in sorted(root.glob(f"{controller}*")):
        if controller in mount.name.split(",") and mount.is_dir():
            return _ancestors(mount, paths.get(controller, "/"))
    return []


def _v2_cpu_quota(directory: Path) -> float | None:
    try:
        fields = (directory / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max" and int(fields[0]) > 0 and int(fields[1]) > 0:
            return int(fields[0]) / int(fields[1])
    except (OSError, ValueError):
        pass
    return None


def _v1_cpu_quota(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read_limit(path: Path) -> int | None:
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    if raw == "max":
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < _V1_UNLIMITED else None


def online_cpus() -> int:
    """Return the CPUs the kernel has online (the host's count, whatever the cgroup allows)."""
    return os.cpu_count() or 1


def allowed_cpus(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> int:
    """Return the CPUs this process may use: its affinity mask (cpuset), capped by the cgroup CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else online_cpus()
    quota = read_cgroup(root, self_cgroup).cpu_quota
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def worker_layout(cpus: int, workers: int | None = None, threads: int | None = None) -> tuple[int, int]:
    """Return (worker processes, inference threads per worker) for `cpus` allowed CPUs.

    Workers default to one per CPU; threads to the CPUs left per worker (at least 1), so the workers
    together do not oversubscribe the CPUs. gunicorn's config and the hardware report both use this.
    """
    workers = workers or cpus
    return workers, threads or max(1, cpus // workers)


def serving_layout(environ: Mapping[str, str], cpus: int | None = None) -> tuple[int, int]:
    """Return (workers, threads per worker) as the serving image runs here: `$TREEPORT_WORKERS`/`THREADS` or derived.

    Raises `UserError` naming the variable when one is set but is not a whole number of at least 1.
    """
    from model.errors import UserError

    given: dict[str, int | None] = {}
    for var in ("TREEPORT_WORKERS", "TREEPORT_THREADS"):
        raw = environ.get(var, "").strip()
        if raw and (not raw.isdigit() or int(raw) < 1):
            raise UserError(f"{var} must be a whole number of at least 1, got {raw!r}")
        given[var] = int(raw) if raw else None
    return worker_layout(cpus or allowed_cpus(), given["TREEPORT_WORKERS"], given["TREEPORT_THREADS"])


def _cpuinfo_fields(cpuinfo: Path) -> dict[str, str]:
    """Return the first processor's `key: value` lines of /proc/cpuinfo."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def isa_flags(cpuinfo: Path = CPUINFO) -> dict[str, bool]:
    """Return which of the vector ISA extensions that matter to oneDAL this CPU reports."""
    fields = _cpuinfo_fields(cpuinfo)
    if "flags" not in fields:
        return {}
    flags = set(fields["flags"].split())
    return {flag: flag in flags for flag in ISA_FLAGS}


def cpu_model(cpuinfo: Path = CPUINFO) -> dict[str, str]:
    """Return the CPU's model name and vendor as /proc/cpuinfo gives them (platform's guess elsewhere)."""
    fields = _cpuinfo_fields(cpuinfo)
    return {
        "model": fields.get("model name") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id", ""),
    }


def memory_total_bytes(meminfo: Path = MEMINFO) -> int | None:
    """Return the machine's memory (MemTotal) in bytes, or None where /proc/meminfo cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def instance_type(environ: Mapping[str, str]) -> tuple[str, str]:
    """Return (instance type, which variable said so), or ("", "") when nothing in the environment says."""
    for var in (INSTANCE_TYPE_ENV, SAGEMAKER_INSTANCE_TYPE_ENV):
        value = environ.get(var, "").strip()
        if value:
            return value, var
    return "", ""


def targets_intel_avx512(instance: str) -> bool:
    """Return whether an EC2/SageMaker instance type is an Intel Xeon family that has AVX-512 (m6i, c7i, ml.r7i...)."""
    match = _INSTANCE_TYPE.match(instance.strip().lower())
    if match is None:
        return False
    return "i" in match["attrs"] and int(match["generation"]) >= _INTEL_AVX512_FROM_GENERATION


def has_onedal_avx512(isa: Mapping[str, bool]) -> bool:
    """Return whether the CPU reports every AVX-512 subset oneDAL's AVX-512 kernels need."""
    return all(isa.get(flag, False) for flag in AVX512_FOR_ONEDAL)


def assess(isa: Mapping[str, bool], vendor: str, instance: str, dispatch: str | None) -> tuple[list[str], list[str]]:
    """Return (warnings, notes) about how well this CPU suits oneDAL, given the deployment's instance type.

    A warning is something to act on: an Intel-targeted instance type (m7i, c7i, r7i, ml.*7i, ...) running on a
    CPU without AVX-512, or one where oneDAL did not choose its AVX-512 kernels. A note explains without alarm.
    `dispatch` is the code path oneDAL reports ("avx512", "avx2", ...), None when it was not asked.
    """
    warnings: list[str] = []
    notes: list[str] = []
    avx512 = has_onedal_avx512(isa)
    if instance and targets_intel_avx512(instance):
        if not avx512:
            missing = [f for f in AVX512_FOR_ONEDAL if not isa.get(f, False)]
            warnings.append(
                f"instance type {instance} is an Intel Xeon type with AVX-512, but this CPU reports no "
                f"{'/'.join(missing)}: oneDAL cannot run its AVX-512 kernels here, so predictions run slower "
                "than the instance type promises (check where the pod or endpoint was scheduled)"
            )
        elif dispatch is not None and dispatch != "avx512":
            warnings.append(
                f"instance type {instance} is an Intel Xeon type with AVX-512 and this CPU reports it, but oneDAL "
                f"chose its {dispatch} kernels ({vendor or 'unknown vendor'}): predictions run slower than the "
                "instance type promises"
            )
        if avx512 and not isa.get("amx_tile", False) and re.search(r"(?:^|\.)[a-z]+7i", instance.lower()):
            notes.append(f"instance type {instance} is a 4th-gen Xeon type, but this CPU reports no AMX tiles")
    if avx512 and dispatch is not None and dispatch != "avx512" and vendor and vendor != "GenuineIntel":
        notes.append(
            f"this CPU ({vendor}) has AVX-512, but oneDAL dispatches its AVX-512 kernels only on Intel CPUs; "
            f"it runs its {dispatch} kernels here"
        )
    if not instance:
        notes.append(f"instance type unknown: set {INSTANCE_TYPE_ENV} (e.g. c7i.large) to check it against the CPU")
    if not isa:
        notes.append("no x86 ISA flags found (/proc/cpuinfo unreadable, or not an x86-64 CPU: oneDAL needs one)")
    return warnings, notes


def hardware_report(
    environ: Mapping[str, str],
    onedal: Mapping[str, Any] | None = None,
    workers: int | None = None,
    threads: int | None = None,
    cgroup_root: Path = CGROUP_ROOT,
    self_cgroup: Path = SELF_CGROUP,
    cpuinfo: Path = CPUINFO,
    meminfo: Path = MEMINFO,
) -> dict[str, Any]:
    """Return the hardware report: CPUs (allowed, online), memory, CPU model and ISA, oneDAL, the serving layout.

    `onedal` is what `model.onedal.dispatch_info()` measured (None: not asked, e.g. a process that never loads
    daal4py); `workers` and `threads` are the serving layout when known (else derived as gunicorn would).
    The result is plain JSON: `GET /metadata`, the startup log line, `treeport doctor` and bench/ all use it.
    """
    limits = read_cgroup(cgroup_root, self_cgroup)
    cpus = allowed_cpus(cgroup_root, self_cgroup)
    isa = isa_flags(cpuinfo)
    cpu = cpu_model(cpuinfo)
    instance, instance_source = instance_type(environ)
    layout_workers, layout_threads = worker_layout(cpus, workers, threads)
    dispatch = onedal.get("dispatch") if onedal else None
    warnings, notes = assess(isa, cpu["vendor"], instance, dispatch)
    return {
        "cpu": {
            **cpu,
            "machine": platform.machine(),
            "cpus_allowed": cpus,
            "cpus_online": online_cpus(),
            "isa": isa,
        },
        "cgroup": {
            "version": limits.version,
            "cpu_quota": limits.cpu_quota,
            "memory_limit_bytes": limits.memory_limit_bytes,
        },
        "memory_total_bytes": memory_total_bytes(meminfo),
        "onedal": dict(onedal) if onedal else None,
        "serving": {"workers": layout_workers, "threads_per_worker": layout_threads},
        "instance_type": {"value": instance, "source": instance_source},
        "warnings": warnings,
        "notes": notes,
    }


def summary_line(report: Mapping[str, Any]) -> str:
    """Return the report in one line, for the log: CPUs, memory, CPU, AVX-512/AMX, oneDAL path, warnings."""
    cpu, limits = report["cpu"], report["cgroup"]
    isa = [flag for flag, present in cpu["isa"].items() if present]
    memory = limits["memory_limit_bytes"]
    onedal = report["onedal"] or {}
    parts = [
        f"cpus {cpu['cpus_allowed']}/{cpu['cpus_online']} allowed/online",
        f"memory limit {gib(memory) if memory else 'none'}",
        f"cpu {cpu['model']!r}",
        f"isa {','.join(isa) or 'none'}",
        f"onedal {onedal.get('version', '-')} dispatch {onedal.get('dispatch', 'not loaded')}",
        f"threads/worker {report['serving']['threads_per_worker']}",
        f"instance {report['instance_type']['value'] or 'unknown'}",
    ]
    line = "hardware: " + "; ".join(parts)
    for warning in report["warnings"]:
        line += f"; WARNING: {warning}"
    return line


def gib(value: int) -> str:
    """Return a byte count as GiB with one decimal."""
    return f"{value / 2**30:.1f} GiB"
