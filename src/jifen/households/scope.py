"""Moved to `jifen.auth.scope` (the ledger may not import households). This name stays until the
branches that still import it have landed; the lead deletes it then."""

from jifen.auth.scope import (
    HouseholdView,
    OutsideGrid,
    cadre_grids,
    check_grid,
    grid_scope,
    household_view,
    phones_in_full,
    refusal,
    sees_pickup_code,
)

__all__ = [
    "HouseholdView",
    "OutsideGrid",
    "cadre_grids",
    "check_grid",
    "grid_scope",
    "household_view",
    "phones_in_full",
    "refusal",
    "sees_pickup_code",
]
