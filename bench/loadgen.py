"""The HTTP load generator: `wrk` (Debian's package), or a Python equivalent where wrk cannot be installed.

Both run a closed loop: `connections` keep-alive connections, each sending the same POST as soon as the
previous answer arrived, for `duration_s` seconds; both report requests, non-2xx answers and latency
percentiles. The Python one (asyncio, one process, raw HTTP/1.1 over sockets) is used only when `wrk` is not
on PATH and `apt-get install wrk` is not possible; it tops out lower than wrk, so the report says which ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local f = assert(io.open("{body_path}", "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One load run: throughput and latency of the answers."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Return requests per second."""
        return self.requests / self.seconds

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "rps": self.rps,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "requests": self.requests,
            "seconds": self.seconds,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
        }


def ensure_wrk() -> str | None:
    """Return the path of `wrk`, installing Debian's package with apt-get if missing and possible; else None."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    print("wrk is missing: apt-get install -y wrk ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "wrk"]):
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            return None
    return shutil.which("wrk")


def run_wrk(
    wrk: str, url: str, body_path: Path, content_type: str, connections: int, duration_s: float, scratch: Path
) -> LoadResult:
    """Run wrk (one thread) against `url` with the POST body in `body_path`."""
    script = scratch / f"wrk-{body_path.stem}.lua"
    script.write_text(WRK_SCRIPT.format(content_type=content_type, body_path=str(body_path)))
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=duration_s + 60)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    raw = json.loads(lines[-1])
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


def run_python(url: str, body: bytes, content_type: str, connections: int, duration_s: float) -> LoadResult:
    """The Python equivalent of `run_wrk`: an asyncio closed loop over raw keep-alive HTTP/1.1 connections."""
    return asyncio.run(_closed_loop(url, body, content_type, connections, duration_s))


async def _closed_loop(url: str, body: bytes, content_type: str, connections: int, duration_s: float) -> LoadResult:
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    request = (
        f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    deadline = time.perf_counter() + duration_s

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port or 80))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not status_line.split(b" ")[1].startswith(b"2"):
                    counts["non_2xx"] += 1
        except (OSError, asyncio.IncompleteReadError, IndexError):
            counts["errors"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return LoadResult(len(latencies), seconds, counts["non_2xx"], counts["errors"], pct(0.5), pct(0.9), pct(0.99))
