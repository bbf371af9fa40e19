"""The one period module: local (Asia/Shanghai) periods, whatever the UTC clock says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jifen.kit.periods import PERIOD_NAMES, InvalidPeriod, parse_period, window


def test_a_moment_late_in_the_utc_day_is_already_the_next_local_day() -> None:
    # 2026-11-30 17:30 UTC is Tuesday 2026-12-01 01:30 in the village
    moment = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    assert window("day", moment) == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 1, 16, tzinfo=UTC),
    )
    assert window("week", moment)[0] == datetime(2026, 11, 29, 16, tzinfo=UTC)  # Monday 2026-11-30, local
    assert window("month", moment) == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 31, 16, tzinfo=UTC),
    )
    assert window("quarter", moment)[0] == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert window("year", moment)[1] == datetime(2026, 12, 31, 16, tzinfo=UTC)


def test_labelled_periods_and_their_names() -> None:
    assert parse_period("2026-Q4").label == "2026-Q4"
    assert parse_period("2026-11").ends_at == datetime(2026, 11, 30, 16, tzinfo=UTC)
    with pytest.raises(InvalidPeriod):
        parse_period("2026-13")
    assert [PERIOD_NAMES[k].this for k in ("day", "month")] == ["今天", "本月"]
