"""Moved to `jifen.auth.households` (the ledger may not import households). This name stays until the
branches that still import it have landed; the lead deletes it then."""

from jifen.auth.households import (
    AwardLister,
    HouseholdAccess,
    HouseholdAdmin,
    HouseholdHistoryReader,
    HouseholdLister,
    HouseholdReader,
    HouseholdReservationsReader,
    VillageAdmin,
    VillageScope,
    household_admin,
    household_reader,
    household_reservations_reader,
    read_household,
    read_household_history,
    village_scope,
)

__all__ = [
    "AwardLister",
    "HouseholdAccess",
    "HouseholdAdmin",
    "HouseholdHistoryReader",
    "HouseholdLister",
    "HouseholdReader",
    "HouseholdReservationsReader",
    "VillageAdmin",
    "VillageScope",
    "household_admin",
    "household_reader",
    "household_reservations_reader",
    "read_household",
    "read_household_history",
    "village_scope",
]
