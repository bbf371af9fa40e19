"""GET /metrics in the Prometheus text format: the process counters of every server process, and the state
read from the database at scrape time. Counts only: no village, household or user is ever named."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine

from jifen.kit.db import create_engine, raw_connection
from jifen.kit.metrics import exposition
from jifen.metrics.auth import InvalidMetricsToken, Scraper
from jifen.metrics.repository import DatabaseState, database_state
from jifen.settings import Settings

router = APIRouter(tags=["metrics"])

SCRAPE_DATABASE_SECONDS = 3.0


def _scrape_engine(request: Request) -> AsyncEngine:
    """One connection of its own per process, so a scrape still answers while the request pool is exhausted
    (exactly when the pool's numbers matter)."""
    engine: AsyncEngine | None = getattr(request.app.state, "metrics_engine", None)
    if engine is None:
        settings: Settings = request.app.state.settings
        assert settings.database_url
        engine = create_engine(
            settings.database_url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=1,
            pool_pre_ping=True,
            metered=False,
        )
        request.app.state.metrics_engine = engine
    return engine


async def _read_database(request: Request) -> DatabaseState | None:
    async def read() -> DatabaseState:
        async with raw_connection(_scrape_engine(request)) as conn:
            return await database_state(conn)

    try:
        return await asyncio.wait_for(read(), SCRAPE_DATABASE_SECONDS)
    except Exception as exc:
        structlog.get_logger(__name__).warning("metrics_database_unavailable", error=type(exc).__name__)
        return None


def _database_exposition(state: DatabaseState | None) -> bytes:
    registry = CollectorRegistry()
    up = Gauge("jifen_database_up", "1 when the scrape could read the database, else 0", registry=registry)
    up.set(0 if state is None else 1)
    if state is not None:  # unknown is left out, never shown as a reassuring 0
        for name, documentation, value in (
            (
                "jifen_chain_unlinked_records",
                "Records not yet linked into the tamper-evident chain",
                state.unlinked,
            ),
            (
                "jifen_chain_oldest_unlinked_age_seconds",
                "How long the oldest record not yet linked has waited (0 when all are linked)",
                state.oldest_unlinked_seconds,
            ),
            ("jifen_public_notice_awards", "Awards on public notice (公示)", state.on_notice),
            (
                "jifen_public_notice_overdue_awards",
                "Awards whose public notice ended but that the due job has not posted yet",
                state.notice_overdue,
            ),
        ):
            Gauge(name, documentation, registry=registry).set(value)
    return generate_latest(registry)


@router.get(
    "/metrics",
    include_in_schema=False,
    responses={401: {"description": InvalidMetricsToken.code}},
)
async def metrics(request: Request, _: Scraper) -> Response:
    """Prometheus metrics (JIFEN_METRICS: on, or token with a Bearer JIFEN_METRICS_TOKEN)."""
    state = await _read_database(request)
    return Response(exposition() + _database_exposition(state), media_type=CONTENT_TYPE_LATEST)
