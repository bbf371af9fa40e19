"""One error family: every refusal jifen gives is a JifenError rendered as {"error", "detail"}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from fastapi import APIRouter, status
from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    detail: Any


class JifenError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_detail: ClassVar[str] = "请求无法完成"

    def __init_subclass__(
        cls, *, code: str | None = None, detail: str | None = None, status: int | None = None, **kw: Any
    ) -> None:
        """A kind declares itself in one line: `class Late(Conflict, code="late", detail="太晚了"): ...`."""
        super().__init_subclass__(**kw)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.status = status
        if detail is not None:
            cls.default_detail = detail

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class BadRequest(JifenError, code="bad_request", status=400, detail="请求格式不正确"): ...


class NotAuthenticated(JifenError, code="not_authenticated", status=401, detail="请先登录"): ...


class InvalidToken(JifenError, code="invalid_token", status=401, detail="登录已过期或无效，请重新登录"): ...


class Forbidden(JifenError, code="forbidden", status=403, detail="您没有权限执行此操作"): ...


class NotFound(JifenError, code="not_found", status=404, detail="找不到该记录"): ...


class Conflict(JifenError, code="conflict", status=409, detail="与现有数据冲突"): ...


class DuplicateCode(Conflict, code="duplicate_code", detail="编号已存在"): ...


T = TypeVar("T")


def found(value: T | None, detail: str) -> T:
    """`value`, or a 404 saying what was not found (找不到…)."""
    if value is None:
        raise NotFound(detail)
    return value


def error_responses(*errors: type[JifenError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the errors an endpoint may raise, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for err in errors:
        by_status.setdefault(err.status, []).append(err.code)
    return {
        status: {
            "model": ErrorBody,
            "description": " | ".join(sorted(set(codes))),
        }
        for status, codes in by_status.items()
    }


def create_route(
    router: APIRouter, path: str, model: type[BaseModel], *errors: type[JifenError]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A POST that creates a record: 201 Created with the record as `model`, or one of `errors`."""
    return router.post(
        path, status_code=status.HTTP_201_CREATED, response_model=model, responses=error_responses(*errors)
    )
