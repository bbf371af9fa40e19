"""Expiry policies and their cutoffs, in the village's local time (Asia/Shanghai). Pure functions.

How much expires at a cutoff (points spent oldest first, FIFO): a household's points that were credited
before the cutoff's *boundary* and are still there. Under FIFO every debit — a redemption, a deduction, the
reversal of an award, an earlier expiry — consumes the oldest credits first, so what is left of the credits
before a boundary is `max(0, balance − credits since the boundary)`. Points on hold (a pending reservation, a
deduction on notice) are counted as already spent: they will most likely leave anyway, and expiring them
would take the balance below what is held. So at a cutoff

    due = max(0, available − credits since boundary − carry_over_cap)

- `yearly`: the cutoff is the end of the local month/day; the boundary is the cutoff itself (everything
  earned before it is old), the carry-over cap is kept.
- `rolling` (N months): a point credited on local date d is valid through d + N months (the same day number,
  or the month's last day) and expires at the local midnight after it. The cutoffs are every local midnight;
  the boundary of the cutoff at the start of day D is the start of the day after the last d that has expired.

A policy counts from its `effective_at`: only cutoffs after it. A new policy replaces the old one entirely.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from jifen.kit.timeutil import LOCAL_TZ, to_local


class ExpiryMode(StrEnum):
    none = "none"
    yearly = "yearly"
    rolling = "rolling"


@dataclass(frozen=True)
class Policy:
    mode: ExpiryMode
    effective_at: datetime | None = None  # None: the default (nothing ever set)
    clearing_month: int | None = None
    clearing_day: int | None = None
    carry_over_cap: int | None = None
    months: int | None = None
    id: uuid.UUID | None = None


@dataclass(frozen=True)
class Cutoff:
    """One clearing: at `at`, credits before `boundary` above `cap` expire."""

    at: datetime
    boundary: datetime
    cap: int


def local_midnight(day: date) -> datetime:
    """The start of a local day, in UTC."""
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ).astimezone(UTC)


def local_date(moment: datetime) -> date:
    return to_local(moment).date()


def last_valid_day(cutoff_at: datetime) -> date:
    """The last local day the points count: the day before the cutoff's midnight."""
    return local_date(cutoff_at) - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """Calendar months, clipped to the month's last day (Jan 31 + 1 month = Feb 28), like PostgreSQL."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def rolling_expiry(posted_on: date, months: int) -> datetime:
    """When points credited on local date `posted_on` expire: the midnight after their last valid day."""
    return local_midnight(add_months(posted_on, months) + timedelta(days=1))


def rolling_boundary(cutoff_day: date, months: int) -> datetime:
    """Credits before this instant have expired by the local midnight starting `cutoff_day`."""
    last_expired_valid_day = cutoff_day - timedelta(days=1)
    latest = add_months(last_expired_valid_day, -months)
    if _is_month_end(last_expired_valid_day):
        # every day of that month past the shorter month's end reached its end on the same day
        latest = latest.replace(day=calendar.monthrange(latest.year, latest.month)[1])
    return local_midnight(latest + timedelta(days=1))


def yearly_cutoff(year: int, month: int, day: int) -> datetime:
    """The end of local `month`/`day` of `year`."""
    return local_midnight(date(year, month, day) + timedelta(days=1))


def latest_cutoff(policy: Policy, now: datetime) -> Cutoff | None:
    """The latest cutoff at or before `now` that came after the policy took effect."""
    if policy.effective_at is None or policy.mode is ExpiryMode.none:
        return None
    today = local_date(now)
    at: datetime | None = None
    if policy.mode is ExpiryMode.yearly:
        assert policy.clearing_month is not None
        assert policy.clearing_day is not None
        for year in (today.year, today.year - 1):
            candidate = yearly_cutoff(year, policy.clearing_month, policy.clearing_day)
            if candidate <= now:
                at = candidate
                break
        if at is None or at <= policy.effective_at:
            return None
        return Cutoff(at=at, boundary=at, cap=policy.carry_over_cap or 0)
    assert policy.months is not None
    at = local_midnight(today)
    if at <= policy.effective_at:
        return None
    return Cutoff(at=at, boundary=rolling_boundary(today, policy.months), cap=0)


def next_cutoff(policy: Policy, now: datetime) -> datetime | None:
    """The first cutoff after `now` (for the policy's page)."""
    if policy.mode is ExpiryMode.none:
        return None
    today = local_date(now)
    if policy.mode is ExpiryMode.yearly:
        assert policy.clearing_month is not None
        assert policy.clearing_day is not None
        for year in (today.year - 1, today.year, today.year + 1):
            candidate = yearly_cutoff(year, policy.clearing_month, policy.clearing_day)
            if candidate > now:
                return candidate
        raise AssertionError("a yearly cutoff within two years")
    return local_midnight(today + timedelta(days=1))


def yearly_cutoffs_between(policy: Policy, start: datetime, end: datetime) -> list[datetime]:
    """Yearly cutoffs in (start, end]."""
    assert policy.clearing_month is not None
    assert policy.clearing_day is not None
    found = []
    for year in range(local_date(start).year - 1, local_date(end).year + 2):
        candidate = yearly_cutoff(year, policy.clearing_month, policy.clearing_day)
        if start < candidate <= end:
            found.append(candidate)
    return found
