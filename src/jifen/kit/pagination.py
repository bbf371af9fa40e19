"""Keyset pagination: lists return {items, next_cursor}; a cursor is an opaque token of the last key."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from jifen.kit.errors import BadRequest

T = TypeVar("T")

MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many items per page (≤ 200)")]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    default_detail = "分页游标无效，请从第一页重新开始"


def encode_cursor(*key: Any) -> str:
    raw = json.dumps([str(part) for part in key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, parts: int) -> list[str] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if (
        not isinstance(key, list)
        or len(key) != parts
        or not all(isinstance(p, str) and "\x00" not in p for p in key)
    ):
        raise InvalidCursor()
    return key
