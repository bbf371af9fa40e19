"""Read scope: how much of a household each person may see. Every household-scoped read (and the award,
reservation and list reads that show households) asks here; the dependencies in `auth/households.py`
turn the answer into a 403/404.

- the village admin and the town admin: everything (phone numbers in full for the village admin only);
- a cadre: the households of their grid (a cadre granted no grid answers for the whole village), with
  their history; phone numbers masked;
- a reviewer: what reviewing needs — the awards, and a household's summary and balance;
- a clerk: what the counter needs — a household's code, name and points;
- a villager: their own household, with its history.

Rankings, star households and the notice board stay village-wide: the village sees them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import IntEnum

from jifen.auth.actor import Actor
from jifen.kit.errors import Forbidden, JifenError, NotFound
from jifen.models import Role


class HouseholdView(IntEnum):
    """How much of one household a person may read; each level includes the ones below it."""

    counter = 1  # a clerk: code, head's name, points
    summary = 2  # a reviewer: the household with its members (phones masked) and balance
    history = 3  # its own villager, a cadre of its grid: also entries, awards, caps, expiring points
    admin = 4  # the village admin, the town admin: everything


class OutsideGrid(Forbidden, code="outside_grid", detail="该户不在您负责的网格内"): ...


def cadre_grids(actor: Actor, village_id: uuid.UUID) -> frozenset[str] | None:
    """The grids the actor answers for as a cadre; None when a cadre grant has no grid (the whole village)
    or the actor is no cadre here."""
    grids = [g.grid for g in actor.grants_in(village_id) if g.role is Role.cadre]
    if not grids or None in grids:
        return None
    return frozenset(g for g in grids if g is not None)


def grid_scope(actor: Actor, village_id: uuid.UUID, village_wide: Iterable[Role]) -> frozenset[str] | None:
    """The grids a village-wide list (households, awards, the review queue) is cut to for this actor;
    None for the whole village. A cadre with grids is cut unless they also hold a role in `village_wide`."""
    if actor.is_town_admin or actor.roles_in(village_id) & {Role.village_admin, *village_wide}:
        return None
    return cadre_grids(actor, village_id)


def household_view(
    actor: Actor, village_id: uuid.UUID, household_id: uuid.UUID, grid: str | None
) -> HouseholdView | None:
    """The most the actor may read of this household, or None when nothing."""
    roles = actor.roles_in(village_id)
    if actor.is_town_admin or Role.village_admin in roles:
        return HouseholdView.admin
    views = [HouseholdView.counter] if Role.clerk in roles else []
    if Role.reviewer in roles:
        views.append(HouseholdView.summary)
    if Role.cadre in roles:
        grids = cadre_grids(actor, village_id)
        if grids is None or grid in grids:
            views.append(HouseholdView.history)
    own = {g.household_id for g in actor.grants_in(village_id) if g.role is Role.villager}
    if household_id in own:
        views.append(HouseholdView.history)
    return max(views, default=None)


def refusal(actor: Actor, village_id: uuid.UUID, view: HouseholdView | None, *, what: str) -> JifenError:
    """Why the actor may not read `what` of the household: 404 when even its existence must not leak (another
    village, a neighbour's household), `outside_grid` for a cadre of another grid, else 403."""
    roles = actor.roles_in(village_id)
    if not actor.is_town_admin and not roles - {Role.villager}:
        return NotFound("找不到该户")
    if Role.cadre in roles and (view is None or view < HouseholdView.history):
        grids = cadre_grids(actor, village_id)
        if grids is not None:
            return _outside(grids)
    return Forbidden(f"您的岗位不能查看该户的{what}")


def phones_in_full(actor: Actor, village_id: uuid.UUID) -> bool:
    """Members' phone numbers are shown in full to the village admin only; masked to everyone else."""
    return Role.village_admin in actor.roles_in(village_id)


def sees_pickup_code(
    actor: Actor, village_id: uuid.UUID, store_id: uuid.UUID, household_id: uuid.UUID
) -> bool:
    """A live pickup code is the household's and its store's: its villager, the store's clerk and the
    village admin see it; nobody else (the town admin included)."""
    for grant in actor.grants_in(village_id):
        if grant.role is Role.village_admin:
            return True
        if grant.role is Role.clerk and grant.store_id == store_id:
            return True
        if grant.role is Role.villager and grant.household_id == household_id:
            return True
    return False


def check_grid(actor: Actor, village_id: uuid.UUID, grid: str | None) -> None:
    """A cadre acts (awards, rectifies) only in their grids; the village admin anywhere in the village."""
    if Role.village_admin in actor.roles_in(village_id):
        return
    grids = cadre_grids(actor, village_id)
    if grids is not None and grid not in grids:
        raise _outside(grids)


def _outside(grids: frozenset[str]) -> OutsideGrid:
    return OutsideGrid(f"该户不在您负责的网格（{'、'.join(sorted(grids))}）内")
