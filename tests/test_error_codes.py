"""The one table of error codes (`model.codes`): every code the source raises is in it, with its status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from api.errors import HTTP_CODES
from model.codes import ERROR_CODES, codes_for
from model.errors import TreeportError

ROOT = Path(__file__).resolve().parents[1]


def raised_codes() -> list[tuple[str, int, str, int]]:
    """Return (file, line, code, status) for every `ApiError(status, "code", ...)`, `malformed("code", ...)`,
    and `code = "..."` / `status = N` pair of an error class in api/ and model/."""
    found = []
    for path in sorted([*ROOT.glob("api/**/*.py"), *ROOT.glob("model/**/*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                args = node.args
                if node.func.id == "ApiError" and len(args) >= 2:
                    if isinstance(args[0], ast.Constant) and isinstance(args[1], ast.Constant):
                        found.append((rel, node.lineno, args[1].value, args[0].value))
                elif node.func.id == "malformed" and args and isinstance(args[0], ast.Constant):
                    found.append((rel, node.lineno, args[0].value, 400))
    return found


def error_classes() -> list[type[TreeportError]]:
    """Return every TreeportError subclass the serving and model code defines."""
    import api.state  # noqa: F401  (defines ModelNotReady)
    import model.sagemaker_predictor
    import model.sagemaker_runtime  # noqa: F401
    import treeport.batch
    import treeport.deploy
    import treeport.rollout  # noqa: F401  (the CLI's own errors: found whatever ran before)

    out: list[type[TreeportError]] = []
    todo: list[type[TreeportError]] = [TreeportError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def test_the_scan_finds_the_raises() -> None:
    codes = {code for _, _, code, _ in raised_codes()}
    assert {"malformed_json", "too_many_rows", "shape_mismatch", "unsupported_media_type"} <= codes


@pytest.mark.parametrize(("where", "line", "code", "status"), raised_codes())
def test_every_raised_code_is_in_the_table(where: str, line: int, code: str, status: int) -> None:
    assert code in ERROR_CODES, f"{where}:{line}: code {code!r} is not in model.codes.ERROR_CODES"
    assert status in ERROR_CODES[code].statuses, f"{where}:{line}: {code!r} with {status}, the table says otherwise"


def test_every_error_class_code_is_in_the_table() -> None:
    for cls in error_classes():
        if "code" not in vars(cls) and cls is not TreeportError:
            continue
        assert cls.code in ERROR_CODES, f"{cls.__qualname__}.code {cls.code!r} is not in the table"
        assert cls.status in ERROR_CODES[cls.code].statuses, cls.__qualname__


def test_werkzeug_statuses_map_to_table_codes() -> None:
    for status, code in HTTP_CODES.items():
        assert status in ERROR_CODES[code].statuses, code


def test_codes_for() -> None:
    assert "too_many_rows" in codes_for(413) and "payload_too_large" in codes_for(413)
    assert "too_many_rows" not in codes_for(400)
