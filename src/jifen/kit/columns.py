"""Spreadsheet columns that more than one export shows, alike in each (header, width, kind)."""

from __future__ import annotations

from jifen.kit.xlsx import Column, Kind

HOUSEHOLD_CODE = Column("户号", 12)
HEAD_NAME = Column("户主", 12)
GRID = Column("网格", 12)
HOUSEHOLD = (HOUSEHOLD_CODE, HEAD_NAME, GRID)
POSTED = Column("在册积分", 12, Kind.int)
AVAILABLE = Column("可用积分", 12, Kind.int)
EARNED = Column("累计获得", 12, Kind.int)
POINTS = Column("积分", 10, Kind.int)
YUAN = Column("金额（元）", 14, Kind.money)
REASON = Column("原因", 30)
ACTOR = Column("操作人", 14)
