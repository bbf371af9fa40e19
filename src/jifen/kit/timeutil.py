"""Time: stored in UTC, shown and grouped into periods in the villages' local time (Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def period_start(period: str, moment: datetime) -> datetime:
    """The start (in UTC) of the local day, week (from Monday), month, quarter or year holding `moment`."""
    local = to_local(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        local = local - timedelta(days=local.weekday())
    elif period == "month":
        local = local.replace(day=1)
    elif period == "quarter":
        local = local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    elif period == "year":
        local = local.replace(month=1, day=1)
    elif period != "day":
        raise ValueError(f"unknown period {period}")
    return local.astimezone(UTC)


PERIOD_NAMES = {"day": "今天", "week": "本周", "month": "本月", "quarter": "本季度", "year": "今年"}


def this_month() -> str:
    """The current month of village time, as the pages name it (2026-11)."""
    return to_local(utcnow()).strftime("%Y-%m")
