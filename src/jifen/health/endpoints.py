from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])
log = structlog.get_logger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database is not reachable"}})
async def readyz(request: Request) -> JSONResponse:
    """The process can reach its database."""
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        # what went wrong goes to the log, for the operator; the answer only says "not ready"
        log.warning("not_ready", error=type(exc).__name__)
        return JSONResponse(
            {
                "status": "unavailable",
                "error": "database_unavailable",
                "detail": "数据库暂时无法连接，请稍后再试",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok"})
