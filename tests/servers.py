"""Servers the tests start on 127.0.0.1: a free port, and moto_server (a real HTTP AWS API) for as long as needed.

The one copy of each: `tests/conftest.py` (S3) and `tests/terraform/conftest.py` (every service, with the
gaps the stacks hit filled) start moto through `moto_server`; every test that needs a port asks `free_port`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_S = 30


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def moto_command() -> list[str]:
    """Return the command of the `moto_server` installed beside this interpreter (or on PATH)."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        pytest.fail("moto_server not found: install the dev extras (moto[server])")
    return [exe]


@contextlib.contextmanager
def moto_server(command: list[str] | None = None) -> Iterator[str]:
    """Run moto_server (`command`, default `moto_command()`) on 127.0.0.1 and a free port; yield its URL; stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [*(command or moto_command()), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"moto_server exited with code {proc.returncode}")
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start within {START_TIMEOUT_S} s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
