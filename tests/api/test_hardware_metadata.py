"""`GET /metadata`'s `hardware` section and the one `hardware:` log line each app (each worker) writes at start."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask

from model.hardware import allowed_cpus
from model.onedal import dispatch_info


def hardware_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the `hardware:` lines logged on `treeport.api`."""
    return [
        r.getMessage() for r in caplog.records if r.name == "treeport.api" and r.getMessage().startswith("hardware:")
    ]


def test_metadata_reports_the_hardware_and_onedals_code_path(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TREEPORT_INSTANCE_TYPE", raising=False)
    monkeypatch.delenv("SM_CURRENT_INSTANCE_TYPE", raising=False)
    with caplog.at_level(logging.INFO, logger="treeport"):
        app = make_app(threads=1)
    assert len(hardware_lines(caplog)) == 1
    hardware = app.test_client().get("/metadata").get_json()["hardware"]
    assert hardware["cpu"]["cpus_allowed"] == allowed_cpus()
    assert hardware["serving"]["threads_per_worker"] == 1
    measured = dispatch_info()
    assert measured is not None
    assert hardware["onedal"]["dispatch"] == measured["dispatch"]
    assert hardware["onedal"]["threads"] == 1  # the model's daalinit(1), not the host's count
    assert hardware["instance_type"] == {"value": "", "source": ""}


def test_xgboost_backend_reports_no_onedal(make_app: Callable[..., Flask]) -> None:
    hardware = make_app(backend="xgboost").test_client().get("/metadata").get_json()["hardware"]
    assert hardware["onedal"] is None
    assert hardware["cpu"]["isa"]  # the CPU is still described


def test_intel_instance_type_warning_reaches_metadata_and_the_log(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TREEPORT_INSTANCE_TYPE", "ml.c7i.xlarge")
    with caplog.at_level(logging.INFO, logger="treeport"):
        app = make_app()
    hardware = app.test_client().get("/metadata").get_json()["hardware"]
    assert hardware["instance_type"] == {"value": "ml.c7i.xlarge", "source": "TREEPORT_INSTANCE_TYPE"}
    # This AMD EPYC runs oneDAL's AVX2 kernels: the warning is due here, and would not be on a real c7i.
    warns = (dispatch_info() or {}).get("dispatch") != "avx512"
    assert bool(hardware["warnings"]) is warns
    (line,) = hardware_lines(caplog)
    assert ("WARNING: instance type ml.c7i.xlarge" in line) is warns


def test_a_model_that_did_not_load_still_reports_the_hardware(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="treeport"):
        app = make_app(load_model=False)
    assert app.test_client().get("/ready").status_code == 503
    assert len(hardware_lines(caplog)) == 1
