"""Keyset pagination: lists return {items, next_cursor}; a cursor is an opaque token of the last key."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel

from jifen.kit.error_sets import READ_ERRORS
from jifen.kit.errors import BadRequest, JifenError, error_responses

T = TypeVar("T")

MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many items per page (≤ 200)")]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")]
GridFilter = Annotated[str | None, Query(max_length=32)]  # only the households of this grid


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class InvalidCursor(BadRequest, code="invalid_cursor", detail="分页游标无效，请从第一页重新开始"): ...


def list_route(
    router: APIRouter, path: str, page: type[Page[Any]], *errors: type[JifenError]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET that answers one `page` of a list: refused as any read is, or for a cursor it did not issue,
    and for `errors`."""
    return router.get(
        path, response_model=page, responses=error_responses(*READ_ERRORS, InvalidCursor, *errors)
    )


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


K = TypeVar("K", bound=tuple[Any, ...])
_PARSERS: dict[type, Callable[[str], Any]] = {
    str: str,
    int: int,
    uuid.UUID: uuid.UUID,
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
}


@dataclass(frozen=True)
class Keyset(Generic[K]):
    """The one keyset cursor type: a list ordered by a key (a code; a time and an id; …) pages on from the
    last key it showed. `after` reads a cursor into the typed key (a bad one is 400 `invalid_cursor`),
    `page` cuts one row too many into a page and the cursor of its last item."""

    kinds: tuple[type, ...]

    def after(self, cursor: str | None) -> K | None:
        parts = decode_cursor(cursor, len(self.kinds))
        if parts is None:
            return None
        try:
            return cast(K, tuple(_PARSERS[kind](part) for kind, part in zip(self.kinds, parts, strict=True)))
        except ValueError as exc:
            raise InvalidCursor() from exc

    def page(self, rows: Sequence[T], limit: int, key: Callable[[T], K]) -> Page[T]:
        """`rows` fetched with `limit + 1`: the page, and a cursor when there is more."""
        items = list(rows[:limit])
        more = len(rows) > limit and bool(items)
        return Page(items=items, next_cursor=encode_cursor(*key(items[-1])) if more else None)


def key_args(key: tuple[Any, ...] | None, parts: int = 2) -> tuple[Any, ...]:
    """A keyset key as a statement's arguments: its parts, or as many NULLs on the first page."""
    return key if key is not None else (None,) * parts


BY_TEXT: Keyset[tuple[str]] = Keyset((str,))
BY_TEXT_ID: Keyset[tuple[str, uuid.UUID]] = Keyset((str, uuid.UUID))
BY_TIME_ID: Keyset[tuple[datetime, uuid.UUID]] = Keyset((datetime, uuid.UUID))
BY_NUMBER: Keyset[tuple[int]] = Keyset((int,))
