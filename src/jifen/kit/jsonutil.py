"""Compact JSON text of what services record (audit events, outbox events): UUIDs and times as strings,
enums by value, Chinese as is."""

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
    if isinstance(value, uuid.UUID | datetime):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot record {type(value).__name__}")
