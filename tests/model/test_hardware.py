"""The hardware report: cgroup v1/v2 limits from fixture trees, ISA flags, the AVX-512 warning, oneDAL's dispatch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model.hardware import (
    CgroupLimits,
    allowed_cpus,
    assess,
    cpu_model,
    hardware_report,
    instance_type,
    isa_flags,
    read_cgroup,
    summary_line,
    targets_intel_avx512,
    worker_layout,
)
from model.onedal import dispatch_info

GIB = 2**30
UNLIMITED_V1 = "9223372036854771712"  # what cgroup v1 writes for "no limit"
AVX512 = {"avx2": True, "avx512f": True, "avx512dq": True, "avx512bw": True, "avx512vl": True, "amx_tile": True}
AVX2_ONLY = {"avx2": True, "avx512f": False, "avx512dq": False, "avx512bw": False, "avx512vl": False}


def write(path: Path, text: str) -> None:
    """Write `text` to `path`, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v2_tree(root: Path, cgroup: str = "/") -> Path:
    """Make `root` a cgroup v2 mount and return a /proc/self/cgroup naming `cgroup`."""
    write(root / "cgroup.controllers", "cpuset cpu io memory pids\n")
    proc = root.parent / "proc-self-cgroup"
    write(proc, f"0::{cgroup}\n")
    return proc


def test_v2_limits_at_the_root_of_a_container(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = v2_tree(root)
    write(root / "cpu.max", "150000 100000\n")
    write(root / "memory.max", f"{2 * GIB}\n")
    assert read_cgroup(root, proc) == CgroupLimits(version=2, cpu_quota=1.5, memory_limit_bytes=2 * GIB)
    assert allowed_cpus(root, proc) == min(2, len(os.sched_getaffinity(0)))


def test_v2_the_tightest_limit_along_the_path_binds(tmp_path: Path) -> None:
    """A parent's limit binds its children: a pod's limit sits above the container's own cgroup."""
    root = tmp_path / "cgroup"
    proc = v2_tree(root, "/kubepods.slice/pod1/container1")
    write(root / "kubepods.slice" / "cpu.max", "max 100000\n")
    write(root / "kubepods.slice" / "pod1" / "cpu.max", "50000 100000\n")
    write(root / "kubepods.slice" / "pod1" / "memory.max", f"{GIB}\n")
    write(root / "kubepods.slice" / "pod1" / "container1" / "cpu.max", "max 100000\n")
    write(root / "kubepods.slice" / "pod1" / "container1" / "memory.max", "max\n")
    assert read_cgroup(root, proc) == CgroupLimits(version=2, cpu_quota=0.5, memory_limit_bytes=GIB)
    assert allowed_cpus(root, proc) == 1  # half a CPU still gets one thread


def test_v2_unlimited(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = v2_tree(root)
    write(root / "cpu.max", "max 100000\n")
    write(root / "memory.max", "max\n")
    assert read_cgroup(root, proc) == CgroupLimits(version=2, cpu_quota=None, memory_limit_bytes=None)
    assert allowed_cpus(root, proc) == len(os.sched_getaffinity(0))


def test_v2_path_missing_under_the_mount_falls_back_to_the_mount(tmp_path: Path) -> None:
    """A cgroup namespace can show the host's path for a cgroup mounted as the container's root."""
    root = tmp_path / "cgroup"
    proc = v2_tree(root, "/system.slice/docker-abc.scope")
    write(root / "cpu.max", "200000 100000\n")
    assert read_cgroup(root, proc).cpu_quota == 2.0


def test_v1_comounted_cpu_and_memory_with_a_process_path(tmp_path: Path) -> None:
    """Legacy hierarchy: cpu,cpuacct co-mounted, memory limit on the process's own group, v1's "no limit" above."""
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc-self-cgroup"
    write(proc, "12:memory:/job/42\n4:cpu,cpuacct:/job/42\n1:name=systemd:/\n0::/\n")
    cpu = root / "cpu,cpuacct"
    write(cpu / "cpu.cfs_quota_us", "-1\n")
    write(cpu / "cpu.cfs_period_us", "100000\n")
    write(cpu / "job" / "42" / "cpu.cfs_quota_us", "300000\n")
    write(cpu / "job" / "42" / "cpu.cfs_period_us", "100000\n")
    write(root / "memory" / "memory.limit_in_bytes", UNLIMITED_V1 + "\n")
    write(root / "memory" / "job" / "42" / "memory.limit_in_bytes", f"{512 * 2**20}\n")
    (root / "cpuset").mkdir()  # a controller whose name starts with "cpu" but is not it
    assert read_cgroup(root, proc) == CgroupLimits(version=1, cpu_quota=3.0, memory_limit_bytes=512 * 2**20)


def test_v1_unlimited_is_no_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc-self-cgroup"
    write(proc, "4:memory:/\n3:cpu:/\n")
    write(root / "cpu" / "cpu.cfs_quota_us", "-1\n")
    write(root / "cpu" / "cpu.cfs_period_us", "100000\n")
    write(root / "memory" / "memory.limit_in_bytes", UNLIMITED_V1 + "\n")
    assert read_cgroup(root, proc) == CgroupLimits(version=1, cpu_quota=None, memory_limit_bytes=None)


def test_no_cgroup_filesystem(tmp_path: Path) -> None:
    assert read_cgroup(tmp_path / "none", tmp_path / "none-proc") == CgroupLimits(None, None, None)
    assert allowed_cpus(tmp_path / "none", tmp_path / "none-proc") == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("text", ["garbage\n", "100000\n", "max\n", "0 100000\n", "100000 0\n"])
def test_unreadable_cpu_max_is_no_quota(tmp_path: Path, text: str) -> None:
    root = tmp_path / "cgroup"
    proc = v2_tree(root)
    write(root / "cpu.max", text)
    assert read_cgroup(root, proc).cpu_quota is None


def test_isa_flags_and_model_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
        "flags\t\t: fpu sse avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni amx_tile\n\n"
        "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu\n"
    )
    flags = isa_flags(cpuinfo)
    assert flags["avx512f"] and flags["avx512_vnni"] and flags["amx_tile"]
    assert not flags["amx_int8"] and not flags["avx512_bf16"]
    assert cpu_model(cpuinfo) == {"model": "Intel(R) Xeon(R) Platinum 8488C", "vendor": "GenuineIntel"}
    assert isa_flags(tmp_path / "missing") == {}


@pytest.mark.parametrize(
    ("instance", "intel"),
    [
        ("m7i.large", True),
        ("c7i.2xlarge", True),
        ("r7i.xlarge", True),
        ("m7i-flex.large", True),
        ("ml.c7i.xlarge", True),
        ("ml.m6i.large", True),
        ("ML.R7I.4XLARGE", True),
        ("m7a.large", False),  # AMD
        ("c7g.large", False),  # Graviton
        ("ml.m5.xlarge", False),  # Intel, but no "i": not what the rule is about
        ("i4i.large", False),
        ("t3.micro", False),
        ("ml.c7i", False),  # no size: not an instance type
        ("", False),
    ],
)
def test_which_instance_types_target_intel_avx512(instance: str, intel: bool) -> None:
    assert targets_intel_avx512(instance) is intel


def test_instance_type_comes_from_treeport_then_sagemaker_variables() -> None:
    assert instance_type({"TREEPORT_INSTANCE_TYPE": " c7i.large ", "SM_CURRENT_INSTANCE_TYPE": "ml.m5.xlarge"}) == (
        "c7i.large",
        "TREEPORT_INSTANCE_TYPE",
    )
    assert instance_type({"SM_CURRENT_INSTANCE_TYPE": "ml.m7i.xlarge"}) == ("ml.m7i.xlarge", "SM_CURRENT_INSTANCE_TYPE")
    assert instance_type({}) == ("", "")


def test_intel_instance_type_without_avx512_warns() -> None:
    warnings, _ = assess(AVX2_ONLY, "AuthenticAMD", "ml.c7i.xlarge", "avx2")
    assert len(warnings) == 1
    assert "ml.c7i.xlarge" in warnings[0] and "avx512f" in warnings[0] and "AVX-512" in warnings[0]


def test_intel_instance_type_where_onedal_did_not_choose_avx512_warns() -> None:
    warnings, _ = assess(AVX512, "AuthenticAMD", "m7i.large", "avx2")
    assert len(warnings) == 1 and "chose its avx2 kernels" in warnings[0]


def test_no_warning_when_the_cpu_matches_the_instance_type() -> None:
    warnings, notes = assess(AVX512, "GenuineIntel", "c7i.large", "avx512")
    assert warnings == [] and notes == []


@pytest.mark.parametrize("instance", ["m7a.large", "c7g.large", ""])
def test_no_warning_without_an_intel_instance_type(instance: str) -> None:
    warnings, notes = assess(AVX2_ONLY, "AuthenticAMD", instance, "avx2")
    assert warnings == []
    assert any("TREEPORT_INSTANCE_TYPE" in n for n in notes) is (instance == "")


def test_amd_with_avx512_gets_a_note_not_a_warning() -> None:
    warnings, notes = assess(AVX512, "AuthenticAMD", "", "avx2")
    assert warnings == []
    assert any("only on Intel CPUs" in n for n in notes)


def test_worker_layout_does_not_oversubscribe() -> None:
    assert worker_layout(8) == (8, 1)
    assert worker_layout(8, workers=2) == (2, 4)
    assert worker_layout(8, workers=3) == (3, 2)
    assert worker_layout(2, workers=4) == (4, 1)
    assert worker_layout(8, workers=2, threads=1) == (2, 1)


def test_report_from_fixtures_and_its_log_line(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = v2_tree(root)
    write(root / "cpu.max", "100000 100000\n")
    write(root / "memory.max", f"{GIB}\n")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t: avx2\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    onedal = {"version": "2026.2.0", "dispatch": "avx2", "threads": 1}
    env = {"TREEPORT_INSTANCE_TYPE": "c7i.large"}
    report = hardware_report(env, onedal, cgroup_root=root, self_cgroup=proc, cpuinfo=cpuinfo, meminfo=meminfo)
    assert report["cpu"]["cpus_allowed"] == 1 and report["cpu"]["model"] == "AMD EPYC 9R14"
    assert report["cgroup"] == {"version": 2, "cpu_quota": 1.0, "memory_limit_bytes": GIB}
    assert report["memory_total_bytes"] == 16384000 * 1024
    assert report["serving"] == {"workers": 1, "threads_per_worker": 1}
    assert report["instance_type"] == {"value": "c7i.large", "source": "TREEPORT_INSTANCE_TYPE"}
    assert len(report["warnings"]) == 1
    line = summary_line(report)
    assert "\n" not in line
    assert line.startswith("hardware: cpus 1/") and "memory limit 1.0 GiB" in line and "dispatch avx2" in line
    assert "WARNING: instance type c7i.large" in line


# What oneDAL says about this machine, asked two ways: its CPU detection through ctypes, and the
# "Processor optimization" line its verbose mode prints. Both are oneDAL's own answer; they must agree.
VERBOSE_NAMES = {
    "Intel(R) Advanced Vector Extensions 512": "avx512",
    "Intel(R) Advanced Vector Extensions 2": "avx2",
    "Intel(R) Streaming SIMD Extensions 4.2": "sse42",
    "Intel(R) Streaming SIMD Extensions 2": "sse2",
}
VERBOSE_PROBE = """
import numpy as np, xgboost as xgb
from model.onedal import build_model, daal4py_core
x = np.random.default_rng(0).random((64, 3), dtype=np.float32)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, (x[:, 0] > 0.5)), 2)
model = build_model(bytes(booster.save_raw("json"))).model
algo = daal4py_core().gbt_classification_prediction(nClasses=2, fptype="float")
algo.compute(x, model)
"""


def test_onedal_dispatch_matches_its_verbose_mode() -> None:
    info = dispatch_info()
    assert info is not None and "dispatch" in info, info
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", str(info["version"]))
    env = {**os.environ, "ONEDAL_VERBOSE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", VERBOSE_PROBE], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    line = re.search(r"Processor optimization:\s*(.+)", run.stdout + run.stderr)
    assert line is not None, run.stdout[-2000:] + run.stderr[-2000:]
    # On a Xeon it reads "Intel(R) Xeon(R) processors based on Intel(R) Advanced Vector Extensions 512".
    named = line.group(1).strip()
    assert [code for name, code in VERBOSE_NAMES.items() if named.endswith(name)] == [info["dispatch"]], named


def test_onedal_dispatch_is_consistent_with_the_cpu() -> None:
    """oneDAL picks AVX-512 kernels only on an Intel CPU with the four subsets; AVX2 wherever AVX2 runs."""
    info = dispatch_info()
    assert info is not None
    flags = isa_flags()
    full_avx512 = all(flags.get(f) for f in ("avx512f", "avx512dq", "avx512bw", "avx512vl"))
    if info["intel_cpu"] and full_avx512:
        assert info["dispatch"] == "avx512"
    elif flags.get("avx2"):
        assert info["dispatch"] == "avx2"
    assert info["intel_cpu"] is (cpu_model()["vendor"] == "GenuineIntel")


def test_onedal_is_not_loaded_just_to_report_it() -> None:
    """A process that never loaded daal4py (xgboost or sagemaker backend) is not made to load it."""
    probe = "import sys; from model.onedal import dispatch_info as d; print(d(load=False), '_daal4py' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split() == ["None", "False"]
