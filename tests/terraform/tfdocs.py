"""terraform-docs style reference sections for the READMEs of terraform/modules/* and terraform/stacks/*.

Each README has a hand-written part (what the folder is for, and an ```hcl example) and a generated part between
BEGIN_TF_DOCS / END_TF_DOCS markers: requirements, modules called, resources, inputs and outputs, read from the
folder's *.tf files (python-hcl2; terraform-docs itself is not installable here). `make tf-docs` rewrites the
generated parts; tests/terraform/test_docs.py fails when one differs from what the *.tf files say.

    python -m tests.terraform.tfdocs [--write] [FOLDER ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
EXAMPLE = re.compile(r"```hcl\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Variable:
    """One input variable as a README lists it."""

    name: str
    description: str
    type: str
    default: str | None  # HCL text of the default; None when the variable is required

    @property
    def required(self) -> bool:
        """Whether a caller must set it (no default)."""
        return self.default is None


@dataclass(frozen=True)
class Configuration:
    """What one Terraform folder declares."""

    required_version: str | None
    providers: dict[str, str]  # provider name -> "source version"
    modules: dict[str, str]  # module call name -> source
    resources: list[str]  # "aws_x.name" and "data.aws_y.name"
    variables: list[Variable]
    outputs: dict[str, str]  # output name -> description


def documented_folders() -> list[Path]:
    """Return every module and stack folder under terraform/, in a stable order."""
    return sorted(p for kind in ("modules", "stacks") for p in (TERRAFORM_DIR / kind).iterdir() if list(p.glob("*.tf")))


def _literal(text: str) -> str:
    """Return the value of an HCL string literal as python-hcl2 gives it (quoted, escaped), else `text`."""
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            return text[1:-1]
    return text


def _expression(value: Any) -> str:
    """Return HCL text for a value python-hcl2 parsed (strings keep their quotes; ${...} is unwrapped)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value[2:-1] if value.startswith("${") and value.endswith("}") else value
    if isinstance(value, list):
        return "[" + ", ".join(_expression(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{_literal(k)} = {_expression(v)}" for k, v in value.items() if k != "__is_block__"]
        return "{" + ", ".join(items) + "}" if items else "{}"
    raise TypeError(f"unexpected value {value!r}")


def _blocks(parsed: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (label, body) of every one-label block of `kind` (variable, output, module)."""
    found = []
    for block in parsed.get(kind, []):
        for label, body in block.items():
            found.append((_literal(label), body))
    return found


def read_configuration(folder: Path) -> Configuration:
    """Parse every *.tf file of `folder` (links followed) into what its README documents."""
    required_version = None
    providers: dict[str, str] = {}
    modules: dict[str, str] = {}
    resources: list[str] = []
    variables: list[Variable] = []
    outputs: dict[str, str] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        for settings in parsed.get("terraform", []):
            if "required_version" in settings:
                required_version = _literal(settings["required_version"])
            for block in settings.get("required_providers", []):
                for name, spec in block.items():
                    if name != "__is_block__":
                        providers[name] = f"{_literal(spec['source'])} {_literal(spec.get('version', ''))}".strip()
        for name, body in _blocks(parsed, "module"):
            modules[name] = _literal(body["source"])
        for kind, prefix in (("resource", ""), ("data", "data.")):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    resources.extend(f"{prefix}{_literal(rtype)}.{_literal(n)}" for n in named)
        for name, body in _blocks(parsed, "variable"):
            default = _expression(body["default"]) if "default" in body else None
            variables.append(
                Variable(name, _literal(body.get("description", '""')), _expression(body.get("type", "any")), default)
            )
        for name, body in _blocks(parsed, "output"):
            outputs[name] = _literal(body.get("description", '""'))
    return Configuration(
        required_version,
        providers,
        modules,
        sorted(set(resources)),
        sorted(variables, key=lambda v: (not v.required, v.name)),
        dict(sorted(outputs.items())),
    )


def _cell(text: str) -> str:
    """Return `text` safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def render(config: Configuration) -> str:
    """Return the generated section (markers included) for a folder's README."""
    lines = [BEGIN, "## Requirements", "", "| Name | Version |", "|------|---------|"]
    if config.required_version:
        lines.append(f"| terraform | `{config.required_version}` |")
    lines += [f"| {name} | `{spec}` |" for name, spec in sorted(config.providers.items())]
    lines += ["", "## Modules", ""]
    if config.modules:
        lines += ["| Name | Source |", "|------|--------|"]
        lines += [f"| {name} | `{source}` |" for name, source in sorted(config.modules.items())]
    else:
        lines.append("No modules.")
    lines += ["", "## Resources", ""]
    if config.resources:
        lines += ["| Name | Type |", "|------|------|"]
        lines += [f"| `{r}` | {'data source' if r.startswith('data.') else 'resource'} |" for r in config.resources]
    else:
        lines.append("No resources.")
    lines += ["", "## Inputs", ""]
    if config.variables:
        lines += ["| Name | Description | Type | Default | Required |"]
        lines += ["|------|-------------|------|---------|:--------:|"]
        for v in config.variables:
            default = "n/a" if v.default is None else f"`{_cell(v.default)}`"
            required = "yes" if v.required else "no"
            lines.append(f"| `{v.name}` | {_cell(v.description)} | `{_cell(v.type)}` | {default} | {required} |")
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    if config.outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        lines += [f"| `{name}` | {_cell(text)} |" for name, text in config.outputs.items()]
    else:
        lines.append("No outputs.")
    lines.append(END)
    return "\n".join(lines) + "\n"


def generated_section(readme: str) -> str | None:
    """Return the generated section of a README's text (markers included), or None when it has none."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        return None
    return readme[start : end + len(END)] + "\n"


def example_arguments(readme: str) -> list[set[str]]:
    """Return, for each ```hcl example of a README, the argument names it sets (those of the module block, or
    the top-level assignments of a tfvars example)."""
    found = []
    for block in EXAMPLE.findall(readme):
        parsed = hcl2.loads(block)
        calls = _blocks(parsed, "module")
        if calls:
            found.extend({k for k in body if k not in ("source", "__is_block__")} for _, body in calls)
        else:
            found.append({k for k in parsed if k != "__is_block__"})
    return found


def update(folder: Path) -> bool:
    """Rewrite the generated section of `folder`/README.md; return whether it changed."""
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else f"# {folder.name}\n\n"
    wanted = render(read_configuration(folder))
    current = generated_section(text)
    new = text.replace(current, wanted) if current else text.rstrip("\n") + "\n\n" + wanted
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    """Check (or with --write, rewrite) the generated README sections; exit 1 when a check finds drift."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the READMEs instead of checking them")
    parser.add_argument("folders", nargs="*", type=Path, help="default: every module and stack")
    args = parser.parse_args(argv)
    stale = []
    for folder in args.folders or documented_folders():
        if args.write:
            if update(folder):
                print(f"updated {folder / 'README.md'}")
            continue
        readme = folder / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.exists() else ""
        if generated_section(text) != render(read_configuration(folder)):
            stale.append(str(readme))
    if stale:
        print("out of date (run `make tf-docs`):\n" + "\n".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
