"""The FastAPI application: routers, error rendering, request context, database lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from jifen.audit.endpoints import router as audit_router
from jifen.auth import actor_cache
from jifen.auth.dependencies import is_page
from jifen.awards.board import router as board_router
from jifen.awards.endpoints import router as awards_router
from jifen.awards.fast_lane import OneCallAwardLane
from jifen.awards.inspection_endpoints import router as inspection_router
from jifen.awards.village_endpoints import router as village_awards_router
from jifen.expiry.endpoints import router as expiry_router
from jifen.funding.endpoints import router as funding_router
from jifen.health.endpoints import router as health_router
from jifen.households.endpoints import router as households_router
from jifen.imports.endpoints import router as imports_router
from jifen.kit import faults, validation
from jifen.kit import spec as openapi_spec
from jifen.kit.control import ControlCharacterMiddleware
from jifen.kit.db import create_engine, create_sessionmaker, sqlstate, violated_constraint
from jifen.kit.errors import ErrorBody, JifenError
from jifen.kit.faults import ServiceUnavailable, database_fault
from jifen.kit.headers import SecurityHeadersMiddleware
from jifen.kit.jobs import run_jobs
from jifen.kit.limits import BodyLimitMiddleware
from jifen.kit.logging import RequestContextMiddleware, configure_logging
from jifen.kit.metrics import MetricsMiddleware, set_pool_capacity
from jifen.kit.workers import mark_ready
from jifen.ledger.endpoints import router as ledger_router
from jifen.ledger.sheets import router as ledger_sheets_router
from jifen.metrics.endpoints import router as metrics_router
from jifen.notify.endpoints import router as notify_router
from jifen.photos.endpoints import router as photos_router
from jifen.rankings.endpoints import router as rankings_router
from jifen.rules.endpoints import router as rules_router
from jifen.rules.imports import router as rule_imports_router
from jifen.rules.sets import router as rule_sets_router
from jifen.settings import Settings, get_settings
from jifen.store.endpoints import router as store_router
from jifen.store.fast_lane import OneCallSaleLane
from jifen.store.imports import router as item_imports_router
from jifen.store.sales import router as sales_router
from jifen.town.endpoints import router as town_router
from jifen.users.endpoints import router as users_router
from jifen.users.endpoints import village_router as village_users_router
from jifen.users.session_endpoints import router as auth_router
from jifen.villages.endpoints import router as villages_router
from jifen.web import install as install_pages
from jifen.web.context import page_error, refusal

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"

_HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


_HTTP_ERROR_DETAILS = {
    "bad_request": "请求格式不正确",
    "invalid_body": "无法解析提交的内容（表单或文件格式不正确），请重新提交",
    "not_authenticated": "请先登录",
    "forbidden": "您没有权限执行此操作",
    "not_found": "找不到该地址",
    "method_not_allowed": "该地址不支持这种请求方式",
    "too_large": "提交的内容太大",
    "unsupported_media_type": "不支持这种内容格式",
    "http_error": "请求无法完成",
}
_CHINESE = re.compile(r"[\u4e00-\u9fff]")
_INVALID_VALUE = "输入的数据无法保存（格式、范围或长度不符合要求），请检查后重试"


def _database_error(request: Request, exc: BaseException) -> Response:
    """What a database error from either driver path means to the client: the database away, busy, full or
    read-only is a 503 (kit/faults.py); a value it cannot store is the client's to correct (400); anything
    else is ours (500, logged)."""
    fault = database_fault(exc)
    if fault is not None:
        return fault_response(request, fault, exc)
    state = sqlstate(exc) or ""
    # class 22 (data exception: a value out of range, a character PostgreSQL cannot store) and a CHECK the
    # input broke are the client's to correct, whichever driver path raised them
    if state.startswith("22") or state == "23514":
        log.info("invalid_value", sqlstate=state, constraint=violated_constraint(exc))
        return JSONResponse({"error": "invalid_value", "detail": _INVALID_VALUE}, status_code=400)
    log.error("database_error", error=type(exc).__name__, sqlstate=state, exc_info=exc)
    return _internal_error()


def _internal_error() -> JSONResponse:
    return JSONResponse(
        {"error": "internal_error", "detail": "服务器内部错误，操作没有生效，请稍后重试"}, status_code=500
    )


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}:{route.name}"


def _once_each(errors: Sequence[Any]) -> list[Any]:
    """The errors, each once: a body model read by the endpoint and by its access dependency (awards) is
    validated twice, and a person should read one sentence per field, not two."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for err in errors:
        mark = (str(err.get("type")), repr(err.get("loc")), str(err.get("msg")))
        if mark not in seen:
            seen.add(mark)
            kept.append(err)
    return kept


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    raw = _once_each(exc.errors())
    if is_page(request):  # a page's address or query a person edited by hand
        return refusal(request, 422, validation.summary(raw))
    if any(err.get("type") == "json_invalid" for err in raw):
        # a body that is not JSON at all is a malformed request, not a field to correct
        return JSONResponse({"error": "invalid_json", "detail": validation.INVALID_JSON}, status_code=400)
    errors = [
        {
            **{k: v for k, v in err.items() if k in ("loc", "msg", "type")},
            "message": validation.message(err),
        }
        for err in raw
    ]
    return JSONResponse(
        {"error": "validation_error", "detail": validation.summary(raw), "errors": errors},
        status_code=422,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JifenError)
    async def jifen_error(request: Request, exc: JifenError) -> Response:
        page = page_error(request, exc)
        if page is not None:
            return page
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if isinstance(exc.extra.get("retry_after"), int):
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else ""
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            code = "invalid_body"
        if not _CHINESE.search(detail):
            # Starlette's and FastAPI's own answers are English ("Not Found", "Method Not Allowed")
            detail = _HTTP_ERROR_DETAILS.get(code) or _HTTP_ERROR_DETAILS["http_error"]
        return JSONResponse(
            {"error": code, "detail": detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ServiceUnavailable)
    async def service_unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        return fault_response(request, exc, exc)

    async def database_down(request: Request, exc: Exception) -> Response:
        """The database is down, full, read-only or stuck behind a lock: 503, from either driver path."""
        fault = database_fault(exc)
        if fault is None:
            log.error("unexpected_error", error=type(exc).__name__, exc_info=exc)
            return _internal_error()
        return fault_response(request, fault, exc)

    # the adapter's DBAPI errors raised outside a statement (beginning a transaction on a dead connection),
    # asyncpg's interface errors, the pool's timeout, and sockets that could not connect
    for fault_class in (
        PoolTimeout,
        AsyncAdapt_asyncpg_dbapi.Error,
        asyncpg.InterfaceError,
        OSError,
    ):
        app.add_exception_handler(fault_class, database_down)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        return _database_error(request, exc)

    # statements after a transaction's first go straight to asyncpg (kit/sql.py `Sql`): its errors are not
    # DBAPIErrors
    @app.exception_handler(asyncpg.PostgresError)
    async def driver_error(request: Request, exc: asyncpg.PostgresError) -> Response:
        return _database_error(request, exc)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error=type(exc).__name__)
        return JSONResponse(
            {"error": "internal_error", "detail": "服务器内部错误，操作没有生效，请稍后重试"}, status_code=500
        )


def fault_response(request: Request, fault: ServiceUnavailable, cause: BaseException) -> Response:
    """503 in the API's shape for the API, as a page for the pages; the client may try again later."""
    log.warning("database_fault", error=fault.code, cause=type(cause).__name__, path=request.url.path)
    headers = {"Retry-After": str(fault.retry_after)}
    wants_page = "text/html" in request.headers.get("accept", "")
    if request.url.path.startswith(API_PREFIX + "/") or not wants_page:
        return JSONResponse({"error": fault.code, "detail": fault.detail}, status_code=503, headers=headers)
    from jifen.web.context import templates

    return templates.TemplateResponse(
        request,
        "refused.html",
        {"page": None, "heading": "暂时无法完成", "message": fault.detail},
        status_code=503,
        headers=headers,
    )


async def run_chainer(engine: AsyncEngine, interval: float) -> None:
    """Every few seconds: post the awards whose public notice ended, release expired reservations, post due
    clearings (清零), link new records into their villages' chains, and seal a checkpoint a day.

    Every server process runs this loop; a session advisory lock lets one of them link and seal at a time.
    Each pass is one log line (`jobs_run`) and moves the jobs' counters on /metrics.
    """
    from jifen.background import chain_jobs, due_jobs

    jobs = [*due_jobs(create_sessionmaker(engine)), *chain_jobs(engine)]
    while True:
        await asyncio.sleep(interval)
        await run_jobs(jobs, source="loop")


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The server process's life: the engine and its pool, the background loop, the nightly backup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            from jifen.kit.embedded import resolve_urls

            settings.database_url = resolve_urls(settings.data_dir).app_url
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            connect_timeout=settings.db_connect_timeout_seconds,
            pool_timeout=settings.db_pool_timeout_seconds,
            statement_timeout_ms=settings.statement_timeout_ms,
            lock_timeout_ms=settings.lock_timeout_ms,
        )
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        set_pool_capacity(settings.db_pool_size + settings.db_max_overflow)
        # long-lived objects made at startup need no collecting, and a 10,000-award batch allocates enough
        # to trigger many full collections with the default thresholds (measured: ~15% of its time)
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        chainer = (
            asyncio.create_task(run_chainer(engine, settings.chain_interval_seconds))
            if settings.chain_interval_seconds > 0
            else None
        )
        nightly = None
        if settings.backup_dir is not None:
            from jifen.backup.nightly import run_nightly

            nightly = asyncio.create_task(run_nightly(settings))
        mark_ready()  # under granian: a death from now on is not a crash loop (kit/workers.py)
        try:
            yield
        finally:
            for task in (chainer, nightly):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await engine.dispose()
            scrape_engine = getattr(app.state, "metrics_engine", None)
            if scrape_engine is not None:
                await scrape_engine.dispose()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    app = FastAPI(
        title="jifen",
        summary="村级积分制与积分超市的记账服务 — the points ledger villages run their 积分制 on",
        version="0.1.0",
        lifespan=_lifespan(settings),
        generate_unique_id_function=_operation_id,
        # any operation may meet a database that is down, read-only, full or stuck behind a lock
        responses={
            503: {
                "model": ErrorBody,
                "description": " | ".join(sorted(faults.BY_CODE))
                + " (Retry-After: seconds; nothing was written)",
            }
        },
        # the documentation is a map of every operation: in prod only when asked for (JIFEN_PUBLIC_DOCS)
        openapi_url="/openapi.json" if settings.docs_visible else None,
        docs_url="/docs" if settings.docs_visible else None,
        redoc_url="/redoc" if settings.docs_visible else None,
    )
    app.state.settings = settings
    actor_cache.configure(settings.actor_cache_seconds, size=4096)
    _install_error_handlers(app)
    # innermost: the one-call award and counter sale answered before the router when sure; the rest goes on
    app.add_middleware(OneCallSaleLane, state=app.state)
    app.add_middleware(OneCallAwardLane, state=app.state)
    app.add_middleware(RequestContextMiddleware, log_requests=settings.log_requests)
    # inside the body limit: it scans what the limit lets through, as it streams in
    app.add_middleware(ControlCharacterMiddleware)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    if settings.metrics_mode != "off":
        # outermost: it times and counts every answer, refusals too
        app.add_middleware(MetricsMiddleware, prefixes=(API_PREFIX,))
        app.include_router(metrics_router)

    app.include_router(health_router)
    # the pages before the API: see web/__init__.py PageRoutes
    install_pages(app, api_prefix=API_PREFIX)
    _include_routers(app)
    openapi_spec.install(app)
    return app


def create_served_app() -> ASGIApp:
    """The app as `jifen serve` runs it under granian: behind uvicorn's proxy-headers middleware, which takes
    the client's address from X-Forwarded-For only from the addresses in FORWARDED_ALLOW_IPS (127.0.0.1
    unless set), exactly as `uvicorn --proxy-headers` does."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    app: Any = create_app()  # uvicorn types an ASGI app its own way; FastAPI is one
    served: Any = ProxyHeadersMiddleware(app, trusted_hosts=trusted)
    return served  # type: ignore[no-any-return]


def _include_routers(app: FastAPI) -> None:
    for router in (
        auth_router,
        users_router,
        village_users_router,
        villages_router,
        households_router,
        rules_router,
        awards_router,
        village_awards_router,
        inspection_router,
        ledger_router,
        store_router,
        funding_router,
        audit_router,
        rankings_router,
        board_router,
        sales_router,
        town_router,
        photos_router,
        expiry_router,
        ledger_sheets_router,
        rule_sets_router,
        rule_imports_router,
        item_imports_router,
        imports_router,
        notify_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
