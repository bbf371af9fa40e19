"""Periods, the one module: all in the villages' local time (Asia/Shanghai), stored as UTC instants.

Two kinds. A *recurring* period is a day, week (from Monday), month, quarter or year — what a rule's cap or an
item's limit counts in — with `window(kind, moment)` the one holding a moment and `PERIOD_NAMES` its Chinese
words. A *labelled* period is one a person names: a month `2026-11`, a quarter `2026-Q4`, a year `2026`, or a
range of local dates `2026-11-01/2026-11-15` (both days included), parsed by `parse_period`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from jifen.kit import timeutil
from jifen.kit.errors import BadRequest

MAX_DAYS = 366 * 5 + 1
KINDS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class PeriodName:
    unit: str  # 每户每{unit}限兑 …
    this: str  # 本月已加 …
    every: str  # 每月 …


PERIOD_NAMES = {
    "day": PeriodName("天", "今天", "每天"),
    "week": PeriodName("周", "本周", "每周"),
    "month": PeriodName("月", "本月", "每月"),
    "quarter": PeriodName("季度", "本季度", "每季度"),
    "year": PeriodName("年", "今年", "每年"),
}


def window(kind: str, moment: datetime) -> tuple[datetime, datetime]:
    """The local day, week (from Monday), month, quarter or year holding `moment`, as [start, end) in UTC."""
    day = timeutil.to_local(moment).date()
    if kind == "day":
        first, last = day, day
    elif kind == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=6)
    elif kind == "month":
        first = day.replace(day=1)
        last = _add_months(first, 1) - timedelta(days=1)
    elif kind == "quarter":
        first = day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
        last = _add_months(first, 3) - timedelta(days=1)
    elif kind == "year":
        first, last = date(day.year, 1, 1), date(day.year, 12, 31)
    else:
        raise ValueError(f"unknown period {kind}")
    return _local_midnight(first), _local_midnight(last + timedelta(days=1))


def period_start(kind: str, moment: datetime) -> datetime:
    """The start (in UTC) of the local period of this kind holding `moment`."""
    return window(kind, moment)[0]


class InvalidPeriod(
    BadRequest,
    code="invalid_period",
    detail=(
        "结算期格式不正确：请用 2026-11（月）、2026-Q4（季度）、2026（年）"
        "或 2026-11-01/2026-11-15（日期范围）"
    ),
): ...


@dataclass(frozen=True)
class LocalPeriod:
    label: str  # as written back: 2026-11, 2026-Q4, 2026, or 2026-11-01/2026-11-15
    first_day: date
    last_day: date  # included

    @property
    def starts_at(self) -> datetime:
        return _local_midnight(self.first_day)

    @property
    def ends_at(self) -> datetime:
        """The first moment after the period (exclusive), in UTC."""
        return _local_midnight(self.last_day + timedelta(days=1))

    def has_ended(self, now: datetime) -> bool:
        return self.ends_at <= now


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timeutil.LOCAL_TZ).astimezone(UTC)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})$")


def _year(text: str) -> int:
    year = int(text)
    if not 2000 <= year <= 2100:
        raise InvalidPeriod(f"年份 {year} 不在 2000–2100 之间")
    return year


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return day.replace(year=day.year + index // 12, month=index % 12 + 1)


def date_range(first: date, last: date) -> LocalPeriod:
    if last < first:
        raise InvalidPeriod("结束日期不能早于开始日期")
    if (last - first).days >= MAX_DAYS:
        raise InvalidPeriod("一个结算期最长五年")
    _year(str(first.year))
    _year(str(last.year))
    return LocalPeriod(f"{first.isoformat()}/{last.isoformat()}", first, last)


def parse_period(text: str) -> LocalPeriod:
    """A period as a client writes it; anything else is `invalid_period`."""
    text = text.strip()
    if match := _MONTH.match(text):
        year, month = _year(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise InvalidPeriod(f"月份 {month} 不在 1–12 之间")
        first = date(year, month, 1)
        return LocalPeriod(f"{year}-{month:02d}", first, _add_months(first, 1) - timedelta(days=1))
    if match := _QUARTER.match(text):
        year, quarter = _year(match[1]), int(match[2])
        first = date(year, 3 * quarter - 2, 1)
        return LocalPeriod(f"{year}-Q{quarter}", first, _add_months(first, 3) - timedelta(days=1))
    if match := _YEAR.match(text):
        year = _year(match[1])
        return LocalPeriod(str(year), date(year, 1, 1), date(year, 12, 31))
    if match := _RANGE.match(text):
        try:
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        except ValueError as exc:
            raise InvalidPeriod(f"日期 {text} 不存在") from exc
        return date_range(first, last)
    raise InvalidPeriod()


def resolve_period(period: str | None, first: date | None, last: date | None) -> LocalPeriod:
    """`period`, or `from` and `to` (local dates, both included): one of the two ways, not both."""
    if period is not None:
        if first is not None or last is not None:
            raise InvalidPeriod("请只给 period，或只给 from 和 to")
        return parse_period(period)
    if first is None or last is None:
        raise InvalidPeriod("请给出结算期 period（如 2026-11），或同时给出 from 和 to 两个日期")
    return date_range(first, last)


def local_today() -> date:
    return timeutil.to_local(timeutil.utcnow()).date()


def this_month() -> str:
    """The current month of village time, as the pages name it (2026-11)."""
    return timeutil.to_local(timeutil.utcnow()).strftime("%Y-%m")
