"""The refusals most endpoints share, listed once for their OpenAPI `responses=` (with `error_responses`):
any authenticated read, and any idempotent write (a POST that moves points or money)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from jifen.kit.errors import Forbidden, JifenError, NotAuthenticated, NotFound, error_responses
from jifen.kit.idempotency import IdempotencyKeyRequired, IdempotencyKeyReused
from jifen.kit.xlsx import XLSX_RESPONSE

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound)
MONEY_ERRORS = (*READ_ERRORS, IdempotencyKeyRequired, IdempotencyKeyReused)


def read_route(
    router: APIRouter, path: str, model: type[BaseModel], *errors: type[JifenError], xlsx: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET that answers `model` (or, with `xlsx`, the same as a spreadsheet when asked): refused as any read
    is, or with one of `errors`."""
    responses = error_responses(*READ_ERRORS, *errors)
    return router.get(path, response_model=model, responses=responses | XLSX_RESPONSE if xlsx else responses)
