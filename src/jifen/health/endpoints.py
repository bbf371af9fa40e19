from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


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
        return JSONResponse(
            {
                "status": "unavailable",
                "error": "database_unavailable",
                "detail": f"数据库不可用: {type(exc).__name__}",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok"})
