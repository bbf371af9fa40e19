"""`jifen serve` stops when told to, even when one of its workers will not: the operator's `systemctl stop`
(or a test's SIGTERM) must not hang forever on a worker stuck in its shutdown (granian's workers can
deadlock there under load). After `JIFEN_STOP_TIMEOUT_SECONDS` the stuck worker is killed and the server
exits."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from jifen.settings import Settings
from tests.live import JIFEN, ROOT, free_port, wait_until_serving
from tests.test_cli import _env

pytestmark = pytest.mark.live_server


async def test_a_worker_that_will_not_stop_is_killed_and_the_server_exits(
    settings: Settings, tmp_path: Path
) -> None:
    env = _env(settings, tmp_path) | {
        "JIFEN_DATA_DIR": str(tmp_path / "data"),
        "JIFEN_SECRET_KEY": settings.signing_key,
        "JIFEN_CHAIN_INTERVAL_SECONDS": "0",
        "JIFEN_STOP_TIMEOUT_SECONDS": "2",
    }
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(JIFEN), "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    workers: list[psutil.Process] = []
    try:
        await wait_until_serving(f"http://127.0.0.1:{port}", server, log_path, path="/readyz")
        workers = [
            child
            for child in psutil.Process(server.pid).children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        assert len(workers) == 2, [w.cmdline() for w in workers]
        stuck = workers[0]
        os.kill(stuck.pid, signal.SIGSTOP)  # this worker will not act on the SIGTERM it is about to get

        began = time.monotonic()
        server.terminate()
        exit_code = server.wait(timeout=20)
        took = time.monotonic() - began

        assert exit_code == 0, log_path.read_text()
        assert 2 <= took < 10, took  # it waited the stop timeout for the stuck worker, then killed it
        assert not stuck.is_running() or stuck.status() == psutil.STATUS_ZOMBIE
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        for worker in workers:
            if worker.is_running():
                worker.kill()
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
