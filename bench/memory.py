"""Memory part: peak resident memory (VmHWM) of one Treeport serving worker after 10,000 requests.

One gunicorn worker serves the model under test; a keep-alive client sends the requests one after another,
nine single-row bodies for every 100-row one, and the worker's peak RSS is read from /proc afterwards. The
peers' workers, as they stood after the HTTP part, are in `http.worker_peak_rss_mb` for comparison.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from bench import servers as srv
from bench.common import RECORD, ModelUnderTest, print_table, records

TARGET_MB = 250


def run(mut: ModelUnderTest, scratch: Path, quick: bool = False, requests: int | None = None) -> dict[str, Any]:
    """Serve with one worker, send the requests, read the worker's memory; return the `memory` section."""
    requests = requests or (1000 if quick else 10_000)
    scratch.mkdir(parents=True, exist_ok=True)
    single = json.dumps({"instances": [RECORD]}).encode()
    batch = json.dumps({"instances": records(100, seed=5)}).encode()
    server = srv.treeport_server(mut, workers=1, scratch=scratch)
    server.start(single)
    try:
        (worker,) = server.workers()
        at_start = srv.memory_mb(worker)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        for i in range(requests):
            connection.request("POST", server.path, body=batch if i % 10 == 9 else single, headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"request {i} answered {answer.status}")
        connection.close()
        after = srv.memory_mb(worker)
    finally:
        server.stop()
    result = {
        "worker_rss_mb": after["peak_rss_mb"],
        "rss_after_mb": after["rss_mb"],
        "rss_at_start_mb": at_start["rss_mb"],
        "requests": requests,
        "mix": "9 single-row bodies for every 100-row body",
    }
    print_table(
        f"memory: one Treeport gunicorn worker after {requests:,} requests",
        ["worker", "RSS at start MiB", "RSS after MiB", "peak RSS MiB", "target MiB"],
        [["treeport", at_start["rss_mb"], after["rss_mb"], after["peak_rss_mb"], TARGET_MB]],
    )
    return result
