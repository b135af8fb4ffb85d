"""Run the benchmark parts, print each table, and write one JSON report: `treeport bench` and `python -m bench`.

    treeport bench [--quick] [--json FILE] [--parts model,http,invocations,cold_start,memory,train] [--store URI]

Without --store the default credit-risk model is trained into a temporary store first (as `make run` trains
it); the model part also measures a larger one (`credit-risk-large`, 500 trees of depth 8), taken from --store
when it holds one, else trained. The report is rewritten after every part, so a failure late in the run keeps
what came before. `http` is the load test (`bench/http_load.py`) and the large-batch requests
(`bench/http_batch.py`); `http_batch` runs only the latter (its keys are under `http` all the same).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench.common import ROOT, ModelUnderTest, machine, prepare_large_model, prepare_model, print_table

PARTS = ("model", "http", "invocations", "cold_start", "memory", "train")
EXTRA_PARTS = ("http_batch",)
"""Parts that run only when named: a piece of one above, reported under that part's key."""
SECTION = {"http_batch": "http"}
DEFAULT_JSON = ROOT / "build" / "bench" / "bench.json"
COLD_START_SCRIPT = ROOT / "bench" / "cold_start.py"

# The targets: (report key, comparison, bound). Ratios above 1 mean Treeport is faster.
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("model.speedup_vs_inplace.b1", ">=", 4),
    ("model.speedup_vs_inplace.b10000", ">=", 1.5),
    ("model.speedup_vs_inplace.columnar.b1000", ">=", 1.0),
    ("model.speedup_vs_inplace.columnar.b10000", ">=", 1.5),
    ("http.batch10000.records.ratio_vs_plain", ">=", 3),
    ("http.batch10000.dataframe_split.ratio_vs_plain", ">=", 3),
    ("http.batch10000.csv.ratio_vs_plain", ">=", 3),
    ("http.batch10000.arrow.ratio_vs_plain", ">=", 3),
    ("http.ratio_vs_hello.b1", ">=", 0.80),
    ("http.speedup_vs_plain_xgboost.b1", ">=", 1.6),
    ("http.speedup_vs_mlserver.b1", ">=", 4),
    ("invocations.csv_parse_ms.r10000", "<=", 15),
    ("cold_start.local_s", "<=", 1.5),
    ("cold_start.sagemaker_s", "<=", 0.5),
    ("memory.worker_rss_mb", "<=", 250),
    ("train.overhead_ratio", "<=", 2),
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (shared with `treeport bench`)."""
    parser = argparse.ArgumentParser(prog="treeport bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the bench options to `parser`."""
    parser.add_argument("--quick", action="store_true", help="every part at tiny sizes (about two minutes)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="report file (default %(default)s)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated parts to run (default: all, %(default)s)"
    )
    parser.add_argument("--store", help="store URI holding credit-risk (default: train it into a temporary store)")


def lookup(report: dict[str, Any], dotted: str) -> Any:
    """Return the value at a dotted key of the report, or None."""
    value: Any = report
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def cold_start(mut: ModelUnderTest, scratch: Path, quick: bool) -> dict[str, Any]:
    """Run `bench/cold_start.py` (kept by the Lambda work) in its own process; return its `cold_start` section."""
    if not COLD_START_SCRIPT.exists():
        raise FileNotFoundError(f"{COLD_START_SCRIPT.relative_to(ROOT)} is not in this checkout")
    out = scratch / "cold_start.json"
    runs, iterations = ("1", "200") if quick else ("5", "5000")
    argv = [sys.executable, "-m", "bench.cold_start", "--store", mut.store, "--json", str(out)]
    argv += ["--runs", runs, "--iterations", iterations]
    print(f"cold start: {shlex.join(argv[1:])}", flush=True)
    subprocess.run(argv, cwd=ROOT, check=True)
    raw = json.loads(out.read_text())
    section: dict[str, Any] = dict(raw["cold_start"])
    for key in ("adapter_overhead_ms", "adapter_overhead_by_event"):
        if key in raw:
            section[key] = raw[key]
    return section


def print_targets(report: dict[str, Any]) -> None:
    """Print each target with the measured value and whether it holds."""
    rows: list[list[Any]] = []
    for key, op, bound in TARGETS:
        value = lookup(report, key)
        if value is None:
            rows.append([key, "not measured", f"{op} {bound:g}", "-"])
            continue
        ok = value >= bound if op == ">=" else value <= bound
        rows.append([key, float(value), f"{op} {bound:g}", "ok" if ok else "MISSED"])
    print_table("targets", ["key", "measured", "target", ""], rows)


def run(
    quick: bool = False,
    json_path: str = str(DEFAULT_JSON),
    parts: str = ",".join(PARTS),
    store: str | None = None,
    out: TextIO = sys.stdout,
    argv: list[str] | None = None,
) -> int:
    """Run the parts; return 0 if all ran (whatever the targets say), 1 if one failed."""
    chosen = [p.strip() for p in parts.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS + EXTRA_PARTS]
    if unknown:
        print(f"treeport bench: unknown part(s) {unknown}; choose from {list(PARTS + EXTRA_PARTS)}", file=sys.stderr)
        return 2
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = "treeport bench " + shlex.join(argv) if argv is not None else "treeport bench"
    report: dict[str, Any] = {
        "command": command.strip(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
    }
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="treeport-bench-") as tmp:
        scratch = Path(tmp)
        mut = prepare_model(store, scratch)
        report["model_under_test"] = {"name": mut.name, "version": mut.version, "trees": mut.trees}
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "model": lambda: _model(mut, store, scratch, quick, path),
            "http": lambda: _http(mut, scratch, quick),
            "http_batch": lambda: _http_batch(mut, scratch, quick),
            "invocations": lambda: _invocations(mut, quick),
            "cold_start": lambda: cold_start(mut, scratch, quick),
            "memory": lambda: _memory(mut, scratch, quick),
            "train": lambda: _train(scratch, quick),
        }
        for part in chosen:
            print(f"\n== {part} ==", flush=True)
            started = time.perf_counter()
            try:
                if part in SECTION:
                    report.setdefault(SECTION[part], {}).update(steps[part]())
                else:
                    report[part] = steps[part]()
            except FileNotFoundError as exc:
                print(f"{part}: skipped: {exc}", flush=True)
                report.setdefault("skipped", {})[part] = str(exc)
            except Exception as exc:  # noqa: BLE001  (one part failing must not lose the others' results)
                traceback.print_exc()
                failed[part] = f"{type(exc).__name__}: {exc}"
            report.setdefault("seconds", {})[part] = round(time.perf_counter() - started, 1)
            path.write_text(json.dumps(report, indent=2) + "\n")
    if failed:
        report["failed"] = failed
    report["targets"] = [{"key": k, "op": op, "bound": bound, "value": lookup(report, k)} for k, op, bound in TARGETS]
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_targets(report)
    print(f"\nwrote {path}", file=out)
    for part, why in failed.items():
        print(f"treeport bench: part {part} failed: {why}", file=sys.stderr)
    return 1 if failed else 0


def _model(mut: ModelUnderTest, store: str | None, scratch: Path, quick: bool, path: Path) -> dict[str, Any]:
    from bench import model

    result = model.run(mut, quick=quick)
    png = path.with_name(path.stem + "-latency.png")
    if model.plot(result, png):
        result["plot"] = str(png)
        print(f"plot: {png}")
    large = prepare_large_model(store, scratch, quick)
    result["large"] = model.run(large, quick=quick)
    return result


def _http(mut: ModelUnderTest, scratch: Path, quick: bool) -> dict[str, Any]:
    from bench import http_load

    result = http_load.run(mut, scratch / "http", quick=quick)
    result.update(_http_batch(mut, scratch, quick))
    return result


def _invocations(mut: ModelUnderTest, quick: bool) -> dict[str, Any]:
    from bench import invocations

    return invocations.run(mut, quick=quick)


def _http_batch(mut: ModelUnderTest, scratch: Path, quick: bool) -> dict[str, Any]:
    from bench import http_batch

    return http_batch.run(mut, scratch / "http_batch", quick=quick)


def _memory(mut: ModelUnderTest, scratch: Path, quick: bool) -> dict[str, Any]:
    from bench import memory

    return memory.run(mut, scratch / "memory", quick=quick)


def _train(scratch: Path, quick: bool) -> dict[str, Any]:
    from bench import train

    return train.run(scratch / "train", quick=quick)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    args = build_parser().parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    return run(args.quick, args.json, args.parts, args.store, argv=given)


if __name__ == "__main__":
    sys.exit(main())
