"""Prometheus instruments: requests by route template, the database pool, background jobs, ledger postings.

Correct with `jifen serve --workers N`: the command points PROMETHEUS_MULTIPROC_DIR at a fresh directory
before any worker starts, so every process writes its samples to its own memory-mapped files and a scrape
(answered by any one worker) adds up all of them. Without that variable (tests, a single process) the
numbers live in this process. What lives in the database (the chain's lag, public notices) is read at scrape
time instead (see jifen.metrics); what happens in a process (a request, a posting it committed, a job it ran,
its pool) is counted where it happens.
"""

from __future__ import annotations

import os
import time
import weakref
from collections import Counter as Tally
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.queue import AsyncAdaptedQueue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.kit.asgi import HttpMiddleware

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# the jobs of the background loop and of `jifen jobs run`, and the ledger's transaction kinds: their series
# exist from the start (at 0), so a rate or an alert works before the first one happens
JOB_NAMES = ("notice", "reservations", "expiry", "chain_link", "chain_seal")
TRANSACTION_KINDS = (
    "award",
    "deduction",
    "reversal",
    "redemption",
    "redemption_cancel",
    "expiry",
    "rectification",
    "adjustment",
)

HTTP_REQUESTS = Counter(
    "jifen_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "jifen_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
POOL_IN_USE = Gauge(
    "jifen_db_pool_connections_in_use",
    "Database connections checked out of the pool (all server processes)",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "jifen_db_pool_waiting",
    "Requests waiting for a database connection because the pool is exhausted (all server processes)",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "jifen_db_pool_max_connections",
    "The most connections the pools may open (JIFEN_DB_POOL_SIZE + JIFEN_DB_MAX_OVERFLOW, all processes)",
    multiprocess_mode="livesum",
)
JOB_RUNS = Counter("jifen_jobs", "Background job runs (server loop and `jifen jobs run`)", ["job"])
JOB_FAILURES = Counter("jifen_job_failures", "Background job runs that failed", ["job"])
JOB_RECORDS = Counter(
    "jifen_job_records", "Records a background job handled (awards posted, records linked …)", ["job"]
)
JOB_DURATION = Histogram(
    "jifen_job_duration_seconds",
    "Time a background job run took",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
JOB_LAST_SUCCESS = Gauge(
    "jifen_job_last_success_timestamp_seconds",
    "When a background job last finished without an error (Unix time)",
    ["job"],
    multiprocess_mode="max",
)
LEDGER_TRANSACTIONS = Counter(
    "jifen_ledger_transactions",
    "Ledger transactions committed, by kind (award, deduction, redemption …)",
    ["kind"],
)

for _job in JOB_NAMES:
    for _family in (JOB_RUNS, JOB_FAILURES, JOB_RECORDS):
        _family.labels(_job)
for _kind in TRANSACTION_KINDS:
    LEDGER_TRANSACTIONS.labels(_kind)


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def exposition() -> bytes:
    """Every process's samples in the Prometheus text format."""
    refresh_pool_gauges()
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    _forget_dead_processes(directory)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _forget_dead_processes(directory: Path) -> None:
    """A worker killed (or restarted) leaves its gauge files behind: drop them, or a dead process's pool would
    count as in use forever. Counters of dead processes stay: a counter never goes back."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[-1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            prometheus_multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, as another user
            pass


# --- HTTP -------------------------------------------------------------------------------------------------


def route_template(scope: Scope, root_path: str = "", prefixes: tuple[str, ...] = ()) -> str:
    """The matched route's path format (`/api/v1/households/{household_id}`), never the raw path: a scanner's
    made-up paths are all "unmatched", and a record's id never becomes a label."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    regex = getattr(route, "path_regex", None)
    if isinstance(template, str):
        # a router included with a prefix keeps its routes' own paths: find which known prefix it was under
        path = str(scope["path"]).removeprefix(root_path)
        for prefix in ("", *prefixes):
            if regex is not None and path.startswith(prefix) and regex.match(path[len(prefix) :]):
                return prefix + template
        return template
    mounted = str(scope.get("root_path", ""))
    if "endpoint" in scope and mounted != root_path:  # a mount (the static files) matched
        return f"{mounted.removeprefix(root_path)}/{{path}}"
    return "unmatched"


class MetricsMiddleware(HttpMiddleware):
    """Counts and times every HTTP answer by method, route template and status. `prefixes`: those the app's
    routers are included under (their routes do not carry them)."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ()) -> None:
        super().__init__(app)
        self.prefixes = prefixes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler becomes a 500 further out
        root_path = scope.get("root_path", "")

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            labels = (method, route_template(scope, root_path, self.prefixes), str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)


# --- the database pool --------------------------------------------------------------------------------------

_pools: weakref.WeakSet[MeteredPool] = weakref.WeakSet()


class _MeteredQueue(AsyncAdaptedQueue[Any]):
    """The pool's queue of idle connections; counts the callers that wait because it is empty."""

    waiting = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block or not self.empty():
            return super().get(block, timeout)
        self.waiting += 1
        _refresh_waiting()
        try:
            return super().get(block, timeout)
        finally:
            self.waiting -= 1
            _refresh_waiting()


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, publishing its connections in use and its waiters as they change."""

    _queue_class = _MeteredQueue

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _pools.add(self)

    def _do_get(self) -> Any:
        record = super()._do_get()
        _refresh_in_use()
        return record

    def _do_return_conn(self, record: Any) -> None:
        super()._do_return_conn(record)
        _refresh_in_use()

    @property
    def waiting(self) -> int:
        queue = self._pool
        return queue.waiting if isinstance(queue, _MeteredQueue) else 0


def _refresh_in_use() -> None:
    POOL_IN_USE.set(sum(pool.checkedout() for pool in _pools))


def _refresh_waiting() -> None:
    POOL_WAITING.set(sum(pool.waiting for pool in _pools))


def refresh_pool_gauges() -> None:
    """This process's pools, from SQLAlchemy's own counts (a few integers per pool): as each connection is
    checked out or returned and each waiter comes and goes, and once more at scrape time."""
    _refresh_in_use()
    _refresh_waiting()


def set_pool_capacity(connections: int) -> None:
    POOL_MAX.set(connections)


# --- ledger postings, counted once committed ----------------------------------------------------------------

_POSTED = "jifen.metrics.posted"


def count_posted(session: AsyncSession, kinds: Iterable[str]) -> None:
    """Note transactions the session posted; they count when (and if) its transaction commits."""
    tally: Tally[str] = session.info.setdefault(_POSTED, Tally())
    tally.update(kinds)


def count_committed(kinds: Iterable[str]) -> None:
    """Transactions just committed outside a session (a one-call lane on a driver connection of its own)."""
    for kind, number in Tally(kinds).items():
        LEDGER_TRANSACTIONS.labels(kind).inc(number)


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    tally: Tally[str] | None = session.info.pop(_POSTED, None)
    for kind, number in (tally or {}).items():
        LEDGER_TRANSACTIONS.labels(kind).inc(number)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_POSTED, None)
