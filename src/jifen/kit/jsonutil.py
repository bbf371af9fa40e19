"""Compact JSON text of what services record (audit events, outbox events): UUIDs as strings, times in
ISO 8601 as PostgreSQL's `to_jsonb(timestamptz)` writes them (the one-call award writes its events in SQL,
and a webhook receiver must see one format whichever path wrote the event), enums by value, Chinese as is."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any


def compact_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=_plain, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot record {type(value).__name__}")
