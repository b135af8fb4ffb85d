"""Helpers of the container tests (pytest-free): run a container, wait for a port, read the RIE's report lines."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# The emulator's own lines: `INIT REPORT(durationMs: 694.8)` once (the init phase runs on the first invoke), and
# `INVOKE RTDONE(status: success, produced bytes: 0, duration: 3.9ms)` per invoke, the function's time alone
# (its REPORT line's Duration of the first invoke includes the init).
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
INVOKE_DONE = re.compile(r"INVOKE RTDONE\(status: (\w+), produced bytes: \d+, duration: ([0-9.]+) ?ms\)")


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one docker command; raise with its output when it fails and `check` is set."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        output = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        raise AssertionError(f"docker {' '.join(args[:6])}... exited {done.returncode}:\n{output}")
    return done


def logs(name: str) -> str:
    """Return a container's output so far (stdout and stderr)."""
    done = docker("logs", name, check=False)
    return done.stdout + done.stderr


def wait_listening(port: int, timeout: float, name: str) -> float:
    """Wait until 127.0.0.1:`port` accepts a connection; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic()
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s:\n{logs(name)[-3000:]}")


def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Send one HTTP request; return (status, body) for any status."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:  # noqa: S310  (loopback URLs of our containers)
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# Runs inside a Lambda container started with --network none: the invoke URL is reachable only from inside.
INVOKE_INSIDE = """
import json, sys, urllib.request
out = []
for line in sys.stdin:
    req = urllib.request.Request("http://127.0.0.1:8080" + sys.argv[1], data=line.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=120) as answer:
        out.append(json.loads(answer.read()))
print(json.dumps(out))
"""


def invoke_inside(name: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post `events` to the emulator's invoke URL from inside container `name`; return the function's results."""
    done = subprocess.run(
        ["docker", "exec", "-i", name, "python", "-c", INVOKE_INSIDE, INVOKE_PATH],
        input="".join(json.dumps(e) + "\n" for e in events),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"invoke failed:\n{done.stderr[-3000:]}\n{logs(name)[-3000:]}"
    results: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return results


def durations(log: str) -> tuple[list[float], list[float]]:
    """Return (init durations, invoke durations) in ms from the emulator's INIT REPORT and INVOKE RTDONE lines."""
    inits = [float(m.group(1)) for m in INIT_REPORT.finditer(log)]
    invokes = [float(m.group(2)) for m in INVOKE_DONE.finditer(log)]
    return inits, invokes
