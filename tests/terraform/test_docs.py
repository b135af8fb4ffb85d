"""Every module and stack has a README whose reference part (requirements, modules, resources, inputs, outputs) is
what its *.tf files declare, and whose example sets only inputs that exist (and, for a module, every required one);
every one commits its .terraform.lock.hcl."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.terraform import tfdocs
from tests.terraform.conftest import MODULES, STACKS, TERRAFORM_DIR

FOLDERS = [TERRAFORM_DIR / "modules" / m for m in MODULES] + [TERRAFORM_DIR / "stacks" / s for s in STACKS]
IDS = [f"{f.parent.name}/{f.name}" for f in FOLDERS]


def test_every_module_and_stack_is_documented() -> None:
    assert sorted(tfdocs.documented_folders()) == sorted(FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_readme_reference_matches_the_configuration(folder: Path) -> None:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert tfdocs.generated_section(readme) == tfdocs.render(tfdocs.read_configuration(folder)), (
        f"{folder / 'README.md'} is out of date: run `make tf-docs`"
    )


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_readme_example_sets_real_inputs(folder: Path) -> None:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    variables = tfdocs.read_configuration(folder).variables
    examples = tfdocs.example_arguments(readme)
    assert examples, f"{folder / 'README.md'} has no ```hcl example"
    declared = {v.name for v in variables}
    for arguments in examples:
        assert arguments - declared == set(), "the example sets inputs the configuration does not declare"
        if folder.parent.name == "modules":
            assert {v.name for v in variables if v.required} - arguments == set(), "the example omits required inputs"


def test_the_reference_follows_a_changed_variable(tmp_path: Path) -> None:
    """The check can fail: a new variable, a changed default or description each change the reference."""
    copy = tmp_path / "store_access"
    shutil.copytree(TERRAFORM_DIR / "modules" / "store_access", copy)
    readme = (copy / "README.md").read_text(encoding="utf-8")
    assert tfdocs.main([str(copy)]) == 0
    variables = copy / "variables.tf"
    original = variables.read_text(encoding="utf-8")
    extra = original + '\nvariable "extra" {\n  type        = number\n  description = "New."\n}\n'
    for changed in (
        extra,
        original.replace('default     = ["s3"]', 'default     = ["s3", "sagemaker"]'),
        original.replace("adds no KMS statement", "adds nothing"),
    ):
        assert changed != original
        variables.write_text(changed, encoding="utf-8")
        assert tfdocs.main([str(copy)]) == 1
        assert tfdocs.generated_section(readme) != tfdocs.render(tfdocs.read_configuration(copy))
    variables.write_text(extra, encoding="utf-8")
    assert tfdocs.main(["--write", str(copy)]) == 0
    assert "| `extra` | New. | `number` | n/a | yes |" in (copy / "README.md").read_text(encoding="utf-8")
    assert tfdocs.main([str(copy)]) == 0


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_lock_file_is_committed(folder: Path) -> None:
    lock = folder / ".terraform.lock.hcl"
    assert lock.is_file(), f"{lock} is missing: run `terraform init` there (with the mirror) and commit it"
    text = lock.read_text(encoding="utf-8")
    assert 'provider "registry.terraform.io/hashicorp/aws"' in text
    assert "h1:" in text
