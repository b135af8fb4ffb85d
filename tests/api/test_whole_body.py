"""A body the server hands over whole (`api.inputs.WHOLE_BODY`, set by `api.worker`) is read as the stream would be."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from api.inputs import WHOLE_BODY

from .conftest import RECORD


class _Unreadable(io.RawIOBase):
    """A `wsgi.input` that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read from the stream, not taken whole")


def csv_body(rows: int) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(RECORD), lineterminator="\n")
    writer.writeheader()
    writer.writerows([RECORD] * rows)
    return text.getvalue().encode()


def post(app: Flask, body: bytes, environ: dict[str, Any]) -> Any:
    return app.test_client().post(
        "/predict", data=body, content_type="text/csv", environ_overrides={"wsgi.input_terminated": True, **environ}
    )


def test_a_whole_body_is_not_read_again(app: Flask) -> None:
    body = csv_body(3)
    from_stream = post(app, body, {})
    handed = post(app, body, {WHOLE_BODY: body, "wsgi.input": _Unreadable()})
    assert from_stream.status_code == handed.status_code == 200
    assert handed.get_json()["predictions"] == from_stream.get_json()["predictions"]


def test_a_whole_body_over_the_limit_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app(max_body_bytes=1000)
    body = csv_body(20)
    assert len(body) > 1000
    answer = post(app, body, {WHOLE_BODY: body, "wsgi.input": _Unreadable()})
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("handed", [b"", b"person_age\n30\n", "not bytes"])
def test_a_handed_body_that_does_not_match_content_length_is_ignored(app: Flask, handed: Any) -> None:
    body = csv_body(2)
    answer = post(app, body, {WHOLE_BODY: handed})
    assert answer.status_code == 200
    assert len(answer.get_json()["predictions"]) == 2
