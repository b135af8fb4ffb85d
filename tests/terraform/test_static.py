"""Offline checks of terraform/: formatting, every stack initialises and validates against the real provider
schema, every module's `terraform test` (mock_provider "aws") passes, and checkov finds nothing unexplained."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.terraform.conftest import MODULES, REPO, STACKS, TERRAFORM_DIR, run_terraform

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
# Stacks whose own interface (the validations a user meets first) has a *.tftest.hcl beside the modules' tests.
TESTED_STACKS = ("serverless", "eks")
SKIP_WITH_REASON = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+)(:(.*))?$")


def init_and_run(
    folders: list[Path], command: list[str], env: dict[str, str]
) -> dict[Path, list[subprocess.CompletedProcess[str]]]:
    """Run `terraform init` in each folder, one at a time (the shared plugin cache is not safe for concurrent
    installs) and held to the committed lock file (it fails if the lock would have to change), then `command` in
    all of them side by side; return both finished processes per folder (only init's when it failed)."""
    init = ["init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly"]
    done = {f: [run_terraform(init, f, env)] for f in folders}
    ready = [f for f in folders if done[f][0].returncode == 0]
    with ThreadPoolExecutor(max_workers=max(1, len(ready))) as pool:
        # `terraform test` of a module starts the provider once per run block: minutes on a loaded machine.
        results = pool.map(lambda f: run_terraform(command, f, env, timeout=1200), ready)
        for folder, result in zip(ready, results, strict=True):
            done[folder].append(result)
    return done


@pytest.fixture(scope="module")
def validated(
    terraform_env: dict[str, str], terraform_copy: Path
) -> dict[Path, list[subprocess.CompletedProcess[str]]]:
    """`terraform init` + `validate -json` of every stack."""
    return init_and_run(
        [terraform_copy / "stacks" / s for s in STACKS], ["validate", "-json", "-no-color"], terraform_env
    )


@pytest.fixture(scope="module")
def module_tests(
    terraform_env: dict[str, str], terraform_copy: Path
) -> dict[Path, list[subprocess.CompletedProcess[str]]]:
    """`terraform init` + `terraform test` of every module, and of every stack that has tests of its own."""
    folders = [terraform_copy / "modules" / m for m in MODULES]
    folders += [terraform_copy / "stacks" / s for s in TESTED_STACKS]
    return init_and_run(folders, ["test", "-no-color"], terraform_env)


def test_terraform_is_formatted(terraform_env: dict[str, str]) -> None:
    result = run_terraform(["fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)], REPO, terraform_env)
    assert result.returncode == 0, f"run `make tf-fmt`:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_initialises_and_validates(
    stack: str, validated: dict[Path, list[subprocess.CompletedProcess[str]]], terraform_copy: Path
) -> None:
    init, *rest = validated[terraform_copy / "stacks" / stack]
    assert init.returncode == 0, init.stdout + init.stderr
    report = json.loads(rest[0].stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["error_count"] == 0
    assert [d["summary"] for d in report["diagnostics"] if d["severity"] == "warning"] == []


@pytest.mark.parametrize("module", MODULES)
def test_module_tests_pass(
    module: str, module_tests: dict[Path, list[subprocess.CompletedProcess[str]]], terraform_copy: Path
) -> None:
    folder = terraform_copy / "modules" / module
    assert list((folder / "tests").glob("*.tftest.hcl")), f"module {module} has no *.tftest.hcl"
    init, *rest = module_tests[folder]
    assert init.returncode == 0, init.stdout + init.stderr
    result = rest[0]
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"(\d+) passed, (\d+) failed", result.stdout)
    assert summary is not None, result.stdout
    passed, failed = int(summary.group(1)), int(summary.group(2))
    assert failed == 0 and passed >= 5, result.stdout


@pytest.mark.parametrize("stack", TESTED_STACKS)
def test_stack_tests_pass(
    stack: str, module_tests: dict[Path, list[subprocess.CompletedProcess[str]]], terraform_copy: Path
) -> None:
    init, *rest = module_tests[terraform_copy / "stacks" / stack]
    assert init.returncode == 0, init.stdout + init.stderr
    result = rest[0]
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"(\d+) passed, (\d+) failed", result.stdout)
    assert summary is not None and int(summary.group(2)) == 0 and int(summary.group(1)) >= 3, result.stdout


def test_every_checkov_skip_gives_a_reason() -> None:
    bare = []
    for path in sorted(TERRAFORM_DIR.rglob("*.tf")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP_WITH_REASON.search(line.strip())
            if match and len((match.group(3) or "").strip()) < 20:
                bare.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert bare == [], "checkov skips without a reason:\n" + "\n".join(bare)


def test_checkov_finds_no_failures() -> None:
    if not CHECKOV.exists():
        pytest.skip(
            f"SKIPPED LOUDLY: {CHECKOV.relative_to(REPO)} is missing; run `make checkov-setup` (make test does)"
        )
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(TERRAFORM_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for report in reports
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], "checkov failures (fix them, or skip inline with a reason):\n" + "\n".join(failed)
    assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov scanned too little: is terraform/ there?"
