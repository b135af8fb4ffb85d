"""The lock files of the images (requirements/*.lock, `make lock`): hashed, complete, consistent with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
LOCKS = sorted(p.name for p in REQUIREMENTS.glob("*.lock"))
# lock -> the input files it resolves
INPUTS = {
    "serve.lock": ["requirements/serve.in"],
    "lambda-local.lock": ["lambda/requirements-local.txt", "requirements/lambda.in"],
    "lambda-sagemaker.lock": ["lambda/requirements-sagemaker.txt", "requirements/lambda.in"],
    "build.lock": ["requirements/build.in"],
    "s3.lock": ["requirements/s3.in"],
    "rie.lock": ["requirements/rie.in"],
}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^ ;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$")


def entries(lock: str) -> list[tuple[str, str, str, int]]:
    """Return (name, version, marker, number of hashes) for every pin of a lock file."""
    out: list[tuple[str, str, str, int]] = []
    for line in (REQUIREMENTS / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            out.append((canonicalize_name(match.group(1)), match.group(2), (match.group(3) or "").strip(), 0))
        elif line.strip().startswith("--hash=sha256:") and out:
            name, version, marker, hashes = out[-1]
            out[-1] = (name, version, marker, hashes + 1)
    return out


def inputs(path: str) -> list[Requirement]:
    """Return the requirements of an input file, following `-r`."""
    out: list[Requirement] = []
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            out += inputs(str(Path(path).parent / line[3:].strip()))
        elif line:
            out.append(Requirement(line))
    return out


def test_there_is_a_lock_per_image() -> None:
    assert set(LOCKS) == {"train.lock", *INPUTS}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_has_hashes(lock: str) -> None:
    pins = entries(lock)
    assert pins
    assert [name for name, _, _, hashes in pins if hashes == 0] == []


@pytest.mark.parametrize("lock", sorted(INPUTS))
def test_a_lock_pins_each_of_its_inputs_within_range(lock: str) -> None:
    pins = {name: version for name, version, _, _ in entries(lock)}
    for requirement in (r for path in INPUTS[lock] for r in inputs(path)):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (lock, name, pins[name])


def test_train_lock_pins_every_dependency_of_pyproject() -> None:
    pins = {name: version for name, version, _, _ in entries("train.lock")}
    for raw in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pins and requirement.specifier.contains(pins[name]), name


def test_serve_input_ranges_match_pyproject() -> None:
    declared = {
        canonicalize_name(Requirement(r).name): Requirement(r).specifier
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for requirement in inputs("requirements/serve.in"):
        assert requirement.specifier == declared[canonicalize_name(requirement.name)], requirement.name


def test_the_images_share_one_resolution() -> None:
    """A package pinned by several locks has one version per Python (the train lock constrains the others)."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for lock in ("train.lock", "serve.lock", "lambda-local.lock", "lambda-sagemaker.lock"):
        for name, version, marker, _ in entries(lock):
            first = seen.setdefault((name, marker), (version, lock))
            assert first[0] == version, f"{name} ({marker or 'any Python'}): {first[1]} {first[0]}, {lock} {version}"


def test_serving_locks_leave_out_training_libraries() -> None:
    for lock in ("serve.lock", "lambda-local.lock", "lambda-sagemaker.lock"):
        names = {name for name, _, _, _ in entries(lock)}
        assert not names & {"pandas", "pyarrow", "matplotlib", "scikit-learn", "python-terraform"}, lock
