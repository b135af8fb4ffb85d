"""Boosting progress: a bar on a terminal, a plain line every 50 rounds elsewhere, fed by an XGBoost callback."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from model.train import PROGRESS_EVERY, ProgressPrinter, train_booster, xgb_params


def _feed(printer: ProgressPrinter, rounds: int) -> None:
    for r in range(1, rounds + 1):
        printer.update(r, "logloss", 1.0 / r)


@pytest.mark.parametrize(
    ("rounds", "total", "lines"),
    [
        (20, 500, []),  # short runs stay silent: nothing worth a line
        (50, 50, ["training: round 50/50, valid logloss 0.02000"]),
        (
            137,
            500,
            [
                "training: round 50/500, valid logloss 0.02000",
                "training: round 100/500, valid logloss 0.01000",
                "training: round 137/500, valid logloss 0.00730 (early stop)",
            ],
        ),
    ],
)
def test_plain_lines_every_50_rounds(rounds: int, total: int, lines: list[str]) -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(total, stream, terminal=False)
    _feed(printer, rounds)
    printer.close()
    assert stream.getvalue().splitlines() == lines
    assert "\r" not in stream.getvalue()


def test_terminal_bar_is_redrawn_in_place_and_ends_with_a_newline() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(100, stream, terminal=True)
    _feed(printer, 100)
    printer.close()
    text = stream.getvalue()
    assert text.startswith("\rtraining [") and text.endswith("\n")
    assert text.count("\n") == 1
    final = text.rstrip("\n").split("\r")[-1]
    assert final.startswith("training [" + "#" * 30 + "] 100/100, valid logloss 0.01000")


def test_close_takes_the_authoritative_last_round_and_ignores_late_updates() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(500, stream, terminal=False)
    _feed(printer, 60)  # events may lag behind the real end (the Dask engine's come over the network)
    printer.close(last=(75, "logloss", 0.5))
    printer.update(76, "logloss", 0.1)
    assert stream.getvalue().splitlines()[-1] == "training: round 75/500, valid logloss 0.50000 (early stop)"


def test_train_booster_reports_each_round_through_the_callback(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(np.float32)
    params = xgb_params("binary", 2, {"num_boost_round": PROGRESS_EVERY + 5, "early_stopping_rounds": 0}, 0, 1)
    train_booster(params, x[:300], y[:300], x[300:], y[300:], progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2, err
    for line, round_ in zip(lines, (50, 55), strict=True):
        assert re.fullmatch(rf"training: round {round_}/55, valid logloss 0\.\d{{5}}", line), line
    train_booster(params, x[:300], y[:300], x[300:], y[300:], progress=False)
    assert capsys.readouterr() == ("", "")
