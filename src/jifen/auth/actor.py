"""Who is asking: the authenticated user and the scoped roles they hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from jifen.models.user import Role

VILLAGE_STAFF = frozenset({Role.village_admin, Role.cadre, Role.reviewer, Role.clerk})
VILLAGE_USERS = VILLAGE_STAFF | {Role.villager}


@dataclass(frozen=True)
class Grant:
    role: Role
    village_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    grid: str | None = None


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID
    username: str
    display_name: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    credential_version: int = 1
    # an administrator reset the password: only the user's own account may be used until they change it
    must_change_password: bool = False

    @property
    def is_town_admin(self) -> bool:
        return any(g.role is Role.town_admin for g in self.grants)

    def grants_in(self, village_id: uuid.UUID) -> list[Grant]:
        return [g for g in self.grants if g.village_id == village_id]

    def roles_in(self, village_id: uuid.UUID) -> set[Role]:
        return {g.role for g in self.grants_in(village_id)}

    def belongs_to(self, village_id: uuid.UUID) -> bool:
        return self.is_town_admin or bool(self.grants_in(village_id))

    def village_ids(self) -> set[uuid.UUID]:
        return {g.village_id for g in self.grants if g.village_id is not None}

    def household_ids(self) -> set[uuid.UUID]:
        return {g.household_id for g in self.grants if g.household_id is not None}

    def store_ids(self) -> set[uuid.UUID]:
        return {g.store_id for g in self.grants if g.role is Role.clerk and g.store_id is not None}


CONSOLE_USER = uuid.UUID(int=0)  # no user's id: the console's actor is no row of `users`


def console_actor(name: str = "console") -> Actor:
    """The actor for work started from the command line (admin create, demo, jobs): full town rights."""
    return Actor(user_id=CONSOLE_USER, username=name, display_name=name, grants=(Grant(Role.town_admin),))
