"""Terraform fixtures: the terraform binary, a CLI config using the machine's provider mirror, one shared plugin
cache, a copy of terraform/ to run in (so nothing lands in the checkout), and an AWS emulator on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import moto_server

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
STACKS = ("serverless", "sagemaker", "eks")
MODULES = ("store_access", "storage", "serverless", "sagemaker", "eks")
PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"
# Where machine images put a filesystem mirror of hashicorp/aws; TREEPORT_TF_PLUGINS names another.
MIRROR_GLOBS = ("/opt/tf-plugins", "/*/tf-plugins", "/*/*/tf-plugins", "~/.terraform.d/plugins")


def run_terraform(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run terraform with `args` in `cwd`; return the finished process (output captured as text)."""
    return subprocess.run(
        ["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def copy_configuration(destination: Path) -> Path:
    """Copy terraform/ (configuration and the committed lock files; no .terraform/ or state) under `destination`,
    the links to terraform/shared/ copied as files as `treeport deploy --state-dir` does; return it."""
    target = destination / "terraform"
    shutil.copytree(
        TERRAFORM_DIR,
        target,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan", ".treeport-k8s"),
    )
    return target


def find_mirror() -> Path | None:
    """Return the folder of a filesystem mirror holding hashicorp/aws, if this machine has one."""
    named = os.environ.get("TREEPORT_TF_PLUGINS")
    candidates = [Path(named)] if named else []
    for pattern in MIRROR_GLOBS:
        expanded = Path(pattern).expanduser()
        if "*" in pattern:
            candidates.extend(sorted(Path("/").glob(str(expanded).lstrip("/"))))
        else:
            candidates.append(expanded)
    for candidate in candidates:
        if (candidate / PROVIDER).is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def terraform_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform: a CLI config installing hashicorp/aws from the mirror, one plugin cache."""
    if shutil.which("terraform") is None:
        pytest.skip("SKIPPED LOUDLY: terraform is not on PATH; the Terraform tests need it (Terraform >= 1.9)")
    mirror = find_mirror()
    if mirror is None:
        pytest.skip(
            "SKIPPED LOUDLY: no filesystem mirror of the hashicorp/aws provider (looked for "
            f"{', '.join(MIRROR_GLOBS)}/{PROVIDER}; set TREEPORT_TF_PLUGINS); providers cannot be downloaded here"
        )
    home = tmp_path_factory.mktemp("terraform-home")
    config = home / "mirror.tfrc"
    provider = "registry.terraform.io/hashicorp/aws"
    config.write_text(
        f"""provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["{provider}"]
  }}
  direct {{
    exclude = ["{provider}"]
  }}
}}
""",
        encoding="utf-8",
    )
    cache = home / "plugin-cache"
    cache.mkdir()
    env = dict(os.environ)
    env.update(
        {
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_PLUGIN_CACHE_DIR": str(cache),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }
    )
    for name in ("TF_DATA_DIR", "TF_WORKSPACE", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="session")
def terraform_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide copy of terraform/ for read-only checks (init, validate, test)."""
    return copy_configuration(tmp_path_factory.mktemp("tf"))


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """Start moto_server (every AWS service on one port) on 127.0.0.1, with the gaps the stacks hit filled
    (see moto_xeon_server.py); stop it afterwards."""
    with moto_server([sys.executable, str(Path(__file__).with_name("moto_xeon_server.py"))]) as url:
        yield url
