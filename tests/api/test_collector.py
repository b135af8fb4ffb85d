"""The garbage collector is held off while requests run and resumes after (api/collector.py)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from api.collector import CollectorHold
from tests.api.conftest import RECORD


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def recording_app(seen: list[bool]) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(gc.isenabled())
        if environ.get("fail"):
            raise RuntimeError("boom")
        start_response("200 OK", [])
        return [b"ok"]

    return app


def test_off_during_a_request_and_on_after_it_even_when_it_raises() -> None:
    seen: list[bool] = []
    app = CollectorHold().wrap(recording_app(seen))
    assert list(app({}, lambda *a: None)) == [b"ok"]
    with pytest.raises(RuntimeError):
        app({"fail": True}, lambda *a: None)
    assert seen == [False, False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    seen: list[bool] = []
    CollectorHold().wrap(recording_app(seen))({}, lambda *a: None)
    assert seen == [False]
    assert not gc.isenabled()


def test_overlapping_requests_resume_it_only_when_the_last_ends() -> None:
    hold = CollectorHold()
    first_in, second_done, first_may_end = threading.Event(), threading.Event(), threading.Event()
    during: list[bool] = []

    def first() -> None:
        with hold:
            first_in.set()
            first_may_end.wait(5)
            during.append(gc.isenabled())

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(5)
    with hold:
        pass
    second_done.set()
    during.append(gc.isenabled())  # the second request ended, the first still runs
    first_may_end.set()
    thread.join(5)
    assert during == [False, False]
    assert gc.isenabled()


def test_the_app_holds_it_off_while_predicting(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from model.predictor import Predictor

    seen: list[bool] = []
    real = Predictor.predict_batch

    def spy(self: Predictor, *args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict_batch", spy)
    answer = client.post("/predict", json={"instances": [RECORD, RECORD]})
    assert answer.status_code == 200
    assert seen == [False]
    assert gc.isenabled()


def test_requests_that_always_overlap_still_get_a_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load that never leaves the process without a request, a request ending after the hold's limit collects."""
    import api.collector as collector

    collected: list[int] = []
    monkeypatch.setattr(collector.gc, "collect", lambda *a: collected.append(1) or 0)
    monkeypatch.setattr(collector, "MAX_HOLD_SECONDS", 0.05)
    hold = CollectorHold()
    hold.__enter__()  # a long request that stays in flight throughout
    try:
        with hold:
            pass
        assert collected == []  # within the limit: nothing
        time.sleep(0.06)
        with hold:
            pass
        assert collected == [1]
        with hold:
            pass
        assert collected == [1]  # the limit counts again from that collection
        assert not gc.isenabled()
    finally:
        hold.__exit__(None, None, None)
    assert gc.isenabled()
