"""granian's crash-loop guard reads a respawn time only for a worker that failed to start by itself
(kit/workers.py): one killed, or one that had started serving, is replaced again."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from jifen.kit.workers import READY_DIR_ENV, StartedWorkers, fresh_dir, mark_ready


@dataclass
class Process:
    pid: int
    exitcode: int | None


@dataclass
class Worker:
    inner: Process


def test_a_killed_or_started_worker_is_no_crash_loop_one_that_failed_to_start_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = fresh_dir(tmp_path / "workers")
    workers = [
        Worker(Process(101, -signal.SIGKILL)),
        Worker(Process(102, 1)),
        Worker(Process(os.getpid(), 1)),
    ]
    respawned = StartedWorkers(workers, ready)
    respawned.update({0: 10.0, 1: 20.0, 2: 30.0})
    monkeypatch.setenv(READY_DIR_ENV, str(ready))
    mark_ready()  # this process stands for worker 2, which started serving and then failed

    assert respawned.get(0, 0) == 0  # killed from outside: replaced again
    assert respawned.get(1, 0) == 20.0  # exited by itself before it served: a crash loop
    assert respawned.get(2, 0) == 0  # it had served
    assert any(respawned.get(i, 0) > 0 for i in (0, 1, 2))  # granian's check, as it reads it

    assert list(fresh_dir(ready).iterdir()) == []  # a new server starts with no marks


def test_no_directory_marks_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READY_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    mark_ready()
    assert list(tmp_path.iterdir()) == []
