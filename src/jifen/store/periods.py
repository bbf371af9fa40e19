"""The local periods an item's per-household limit counts in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jifen.kit import timeutil
from jifen.models import Period

PERIOD_NAMES = {"day": "天", "week": "周", "month": "月", "quarter": "季度", "year": "年"}


def period_window(period: Period, moment: datetime) -> tuple[datetime, datetime]:
    """The local (Asia/Shanghai) day, week (from Monday), month, quarter or year holding `moment`, as UTC."""
    local = timeutil.to_local(moment)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if period is Period.day:
        start, end = day, day + timedelta(days=1)
    elif period is Period.week:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period is Period.month:
        start = day.replace(day=1)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    elif period is Period.quarter:
        start = day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 10
            else start.replace(month=start.month + 3)
        )
    else:
        start = day.replace(day=1, month=1)
        end = start.replace(year=start.year + 1)
    return (
        start.replace(tzinfo=timeutil.LOCAL_TZ).astimezone(UTC),
        end.replace(tzinfo=timeutil.LOCAL_TZ).astimezone(UTC),
    )
