"""What each image holds: its size, the serving images' missing libraries, and exactly the lock's distributions."""

from __future__ import annotations

import json
import re

import pytest
from packaging.markers import Marker, default_environment
from packaging.utils import canonicalize_name

from tests.e2e.conftest import IMAGES, ROOT
from tests.e2e.runtime import docker

pytestmark = pytest.mark.e2e

LOCKS = {
    "serve": "serve.lock",
    "train": "train.lock",
    "lambda": "lambda-local.lock",
    "lambda-proxy": "lambda-sagemaker.lock",
    "s3": "s3.lock",
}
PYTHON = {"s3": "/opt/moto/bin/python"}
# Runs in the image: its Python version, installed distributions and the size of site-packages and the prefix.
PROBE = """
import importlib.metadata as m, json, os, pathlib, sys, sysconfig
def size(p):
    return sum(f.lstat().st_size for f in pathlib.Path(p).rglob("*") if f.is_file() or f.is_symlink())
site = sysconfig.get_paths()["purelib"]
print(json.dumps({"python": "%d.%d" % sys.version_info[:2],
    "dists": {m.normalize_name(d.name) if hasattr(m, "normalize_name") else d.name.lower().replace("_", "-"): d.version
              for d in m.distributions()},
    "site": size(site), "prefix": size(sys.prefix)}))
"""


def locked(lock: str, python: str) -> dict[str, str]:
    """Return {name: version} the lock pins for a Linux x86-64 CPython `python` ("3.11"), markers evaluated."""
    environment = {
        **default_environment(),
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    out: dict[str, str] = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^ ;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$", line)
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate(environment):
            continue
        out[canonicalize_name(name)] = version
    return out


def probe(image: str, python: str) -> dict[str, object]:
    """Run PROBE in `image`."""
    done = docker("run", "--rm", "--read-only", "--network", "none", "--entrypoint", python, image, "-c", PROBE)
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("kind", list(IMAGES))
def test_image_holds_exactly_its_lock(docker_engine: str, kind: str) -> None:
    image = IMAGES[kind]
    size = int(docker_size(image))
    found = probe(image, PYTHON.get(kind, "/opt/venv/bin/python"))
    dists = {canonicalize_name(k): v for k, v in found["dists"].items()}  # type: ignore[union-attr]
    expected = locked(LOCKS[kind], str(found["python"]))
    print(
        f"\n{image}: image {size / 1e6:.0f} MB, site-packages {int(found['site']) / 1e6:.0f} MB,"  # type: ignore[call-overload]
        f" environment {int(found['prefix']) / 1e6:.0f} MB, Python {found['python']}"  # type: ignore[call-overload]
    )
    extra = {n: v for n, v in dists.items() if n not in expected and n not in ("treeport", "pip", "setuptools")}
    assert not extra, f"{image} holds distributions its lock does not pin: {extra}"
    wrong = {n: (dists.get(n), v) for n, v in expected.items() if dists.get(n) != v}
    assert not wrong, f"{image}: installed vs locked versions differ: {wrong}"
    if kind in ("serve", "lambda", "lambda-proxy"):
        assert not {"pandas", "pyarrow", "matplotlib", "scikit-learn"} & set(dists)
    if kind == "lambda-proxy":
        assert not {"xgboost-cpu", "daal", "scikit-learn-intelex", "scipy"} & set(dists)


def docker_size(image: str) -> str:
    """Return the image's size in bytes, as `docker image inspect` gives it."""
    return docker("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
