"""Background jobs, run the same way by the server's loop and by `jifen jobs run`: each one timed and counted
on /metrics, one failing never stopping the others, and one log line per run saying what ran, how many
records each handled, how long it took and what failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from jifen.kit import metrics
from jifen.kit.faults import database_fault


@dataclass(frozen=True)
class Job:
    name: str
    # the records it handled; None when it did not run here (another process holds its lock)
    run: Callable[[], Awaitable[int | None]]


class JobIncomplete(Exception):
    """A job that did part of its work and failed the rest (one village's clearing of many, say)."""

    def __init__(self, records: int, message: str) -> None:
        super().__init__(message)
        self.records = records


@dataclass
class JobsReport:
    records: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _log() -> Any:
    # fetched per run, not cached at import: a logger cached once keeps writing where logging pointed then
    return structlog.get_logger("jifen.jobs")


async def run_jobs(jobs: Sequence[Job], *, source: str) -> JobsReport:
    """Run the jobs in order; the report says what each did. Never raises for a job's failure."""
    report = JobsReport()
    lines: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for job in jobs:
        job_started = time.perf_counter()
        records: int | None
        try:
            records = await job.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            records = exc.records if isinstance(exc, JobIncomplete) else 0
            report.failed.append(job.name)
            metrics.JOB_FAILURES.labels(job.name).inc()
            fault = database_fault(exc)
            if fault is None:
                _log().exception("job_failed", job=job.name, source=source, error=type(exc).__name__)
            else:  # the database is down or busy: the next pass tries again, there is nothing to debug
                _log().warning(
                    "job_waiting_for_database",
                    job=job.name,
                    source=source,
                    error=fault.code,
                    cause=type(exc).__name__,
                )
        else:
            if records is not None:
                metrics.JOB_LAST_SUCCESS.labels(job.name).set(time.time())
        seconds = time.perf_counter() - job_started
        if records is None:
            report.skipped.append(job.name)
            lines[job.name] = {"records": 0, "duration_ms": round(seconds * 1000, 2), "skipped": True}
            continue
        metrics.JOB_RUNS.labels(job.name).inc()
        metrics.JOB_RECORDS.labels(job.name).inc(records)
        metrics.JOB_DURATION.labels(job.name).observe(seconds)
        report.records[job.name] = records
        lines[job.name] = {
            "records": records,
            "duration_ms": round(seconds * 1000, 2),
            "ok": job.name not in report.failed,
        }
    log = _log()
    (log.error if report.failed else log.info)(
        "jobs_run",
        source=source,
        jobs=lines,
        records=sum(report.records.values()),
        failed=report.failed,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return report
