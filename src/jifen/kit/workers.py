"""Which of a server's worker processes have started serving, so that granian's crash-loop guard can tell
a worker that cannot start (a broken app: stop) from one killed while it served (kill -9, out of memory:
replace).

granian (2.x) stops the whole server when a worker dies within 5.5 s of being respawned, taking that for a
crash loop. A worker killed twice in a row, or its replacement killed soon after it started serving, then took
the server down instead of being replaced (`tests/faults/test_under_load.py` under granian). `jifen serve`
points `JIFEN_WORKERS_READY_DIR` at a fresh directory; each worker's app touches a file named by its pid once
its startup finished (`mark_ready`). `StartedWorkers` lets the guard see a respawn time only for a worker that
never got that far and was not killed from outside (SIGKILL: kill -9, the out-of-memory killer) — one that
failed to start by itself, which is what a crash loop is.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

READY_DIR_ENV = "JIFEN_WORKERS_READY_DIR"


def mark_ready() -> None:
    """This process's app has started (called at the end of the app's startup): a later death is not a crash
    loop."""
    directory = os.environ.get(READY_DIR_ENV)
    if directory:
        Path(directory, str(os.getpid())).touch()


def fresh_dir(directory: Path) -> Path:
    """Where the workers of a server about to start mark themselves, emptied of a previous run's."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in directory.iterdir():
        stale.unlink(missing_ok=True)
    return directory


def has_started(directory: Path, pid: int | None) -> bool:
    return pid is not None and (directory / str(pid)).exists()


class StartedWorkers(dict[int, float]):
    """granian's `respawned_wrks` (worker index → when it was last respawned), as its crash-loop guard reads
    it: no respawn time for a worker that had started serving before it died or was killed, so it is replaced
    again."""

    def __init__(self, workers: list[Any], directory: Path) -> None:
        super().__init__()
        self.workers, self.directory = workers, directory  # granian's list of its worker processes

    def get(self, index: int, default: Any = None) -> Any:
        worker = self.workers[index] if 0 <= index < len(self.workers) else None
        if worker is not None and (
            has_started(self.directory, worker.inner.pid) or worker.inner.exitcode == -signal.SIGKILL
        ):
            return default
        return super().get(index, default)
