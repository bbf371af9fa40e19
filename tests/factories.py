"""Factories: villages, households, stores and users made straight through the services, with tokens."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response

from jifen.auth.actor import console_actor
from jifen.auth.tokens import issue_token
from jifen.households.schemas import MemberIn
from jifen.households.service import create_household
from jifen.models import Household, Role, Store, Village
from jifen.store.service import create_store
from jifen.users.schemas import RoleGrantIn
from jifen.users.service import create_user
from jifen.villages.service import create_village

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


@dataclass
class Person:
    id: uuid.UUID
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class VillageSetup:
    village: Village
    store: Store
    households: list[Household]
    people: dict[str, Person] = field(default_factory=dict)


@dataclass
class World:
    app: FastAPI
    client: AsyncClient

    def session(self) -> Any:
        return self.app.state.sessionmaker()

    async def village(self, code: str | None = None, name: str = "测试村") -> Village:
        async with self.session() as session, session.begin():
            return await create_village(session, console_actor(), code=code or f"V{next(_seq)}", name=name)

    async def store(self, village: Village, name: str = "积分超市") -> Store:
        async with self.session() as session, session.begin():
            return await create_store(session, console_actor(), village, name=name)

    async def household(
        self, village: Village, code: str | None = None, *, grid: str | None = None, head_name: str = "王建国"
    ) -> Household:
        async with self.session() as session, session.begin():
            return await create_household(
                session,
                console_actor(),
                village,
                code=code or f"H{next(_seq):04d}",
                head_name=head_name,
                grid=grid,
                address=None,
                members=[MemberIn(name=head_name, phone="13800000000")],
            )

    async def person(self, *grants: RoleGrantIn, username: str | None = None) -> Person:
        name = username or f"user{next(_seq)}"
        async with self.session() as session, session.begin():
            user = await create_user(
                session,
                console_actor(),
                username=name,
                password=PASSWORD,
                display_name=name,
                roles=list(grants),
            )
        token, _ = issue_token(self.app.state.settings, user.id, user.credential_version)
        return Person(id=user.id, username=name, token=token)

    async def town_admin(self) -> Person:
        return await self.person(RoleGrantIn(role=Role.town_admin))

    async def setup_village(
        self, households: int = 3, grids: tuple[str, ...] = ("一组", "二组")
    ) -> VillageSetup:
        """A village with a store, some households and one user for every village role."""
        village = await self.village()
        store = await self.store(village)
        rows = [
            await self.household(village, grid=grids[i % len(grids)], head_name=f"户主{i}")
            for i in range(households)
        ]
        setup = VillageSetup(village=village, store=store, households=rows)
        v = village.id
        setup.people = {
            "village_admin": await self.person(RoleGrantIn(role=Role.village_admin, village_id=v)),
            "cadre": await self.person(RoleGrantIn(role=Role.cadre, village_id=v)),
            "reviewer": await self.person(RoleGrantIn(role=Role.reviewer, village_id=v)),
            "clerk": await self.person(RoleGrantIn(role=Role.clerk, village_id=v, store_id=store.id)),
            "villager": await self.person(
                RoleGrantIn(role=Role.villager, village_id=v, household_id=rows[0].id)
            ),
        }
        return setup

    async def call(self, method: str, path: str, who: Person | None = None, **kwargs: Any) -> Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who is not None:
            headers.update(who.headers)
        return await self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)
