"""A real `jifen serve` for the tests that need one (browser journeys, faults, metrics across workers): where
the command is, a free port, and waiting until the server answers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
JIFEN = Path(sys.executable).with_name("jifen")


def bytecode_env() -> dict[str, str]:
    """Where a process the tests start keeps the bytecode it compiles: one cache for the whole run (`make
    pytest` gives pytest itself var/pycache), so only the first process compiles jifen and its dependencies
    and every later server, worker and command starts from the cache."""
    cache = os.environ.get("PYTHONPYCACHEPREFIX") or str(ROOT / "var" / "pycache")
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": cache}


async def run_jifen(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`jifen ARGS…` in a thread (the event loop carries on), its output captured as text."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(JIFEN), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until_serving(
    url: str, process: subprocess.Popen[bytes], log_path: Path, *, path: str = "/healthz", timeout: float = 60
) -> None:
    """Poll `path` until it answers 200; fail with the server's log if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            try:
                if (await http.get(f"{url}{path}")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, (
                f"jifen did not start within {timeout} s\n{log_path.read_text(errors='replace')}"
            )
            await asyncio.sleep(0.1)
