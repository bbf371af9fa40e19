from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth import repository as auth_repository
from jifen.auth.actor import Actor
from jifen.auth.passwords import hash_password
from jifen.kit.db import violated_constraint
from jifen.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from jifen.models import Role, User, UserRole
from jifen.users import repository
from jifen.users.schemas import RoleGrantIn


class DuplicateUsername(Conflict):
    code = "duplicate_username"
    default_detail = "用户名已被使用"


class InvalidRole(BadRequest):
    code = "invalid_role"
    default_detail = "角色的范围不正确"


async def _check_grant(session: AsyncSession, actor: Actor, grant: RoleGrantIn) -> None:
    if grant.role is Role.town_admin:
        if not actor.is_town_admin:
            raise Forbidden("只有镇管理员可以创建镇管理员")
        if grant.village_id or grant.store_id or grant.household_id or grant.grid:
            raise InvalidRole("镇管理员不属于某个村，不能指定村、超市、户或网格")
        return
    if grant.village_id is None:
        raise InvalidRole(f"角色 {grant.role} 需要指定 village_id")
    if not actor.is_town_admin and Role.village_admin not in actor.roles_in(grant.village_id):
        if actor.belongs_to(grant.village_id):
            raise Forbidden("只有本村管理员可以为本村创建用户")
        raise NotFound("找不到该村")
    if not await repository.village_exists(session, grant.village_id):
        raise NotFound("找不到该村")
    if grant.role is Role.clerk:
        if grant.store_id is None:
            raise InvalidRole("店员需要指定所在的积分超市 store_id")
        if not await repository.store_in_village(session, grant.village_id, grant.store_id):
            raise InvalidRole("该积分超市不属于这个村")
    elif grant.store_id is not None:
        raise InvalidRole("只有店员可以指定积分超市")
    if grant.role is Role.villager:
        if grant.household_id is None:
            raise InvalidRole("村民需要指定所属的户 household_id")
        if not await repository.household_in_village(session, grant.village_id, grant.household_id):
            raise InvalidRole("该户不属于这个村")
    elif grant.household_id is not None:
        raise InvalidRole("只有村民可以指定所属的户")
    if grant.grid is not None and grant.role is not Role.cadre:
        raise InvalidRole("只有村干部/网格员可以指定网格")


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    username: str,
    password: str,
    display_name: str,
    roles: Sequence[RoleGrantIn],
) -> User:
    for grant in roles:
        await _check_grant(session, actor, grant)
    if await auth_repository.get_user_by_username(session, username) is not None:
        raise DuplicateUsername(f"用户名 {username} 已被使用")
    user = User(username=username, password_hash=hash_password(password), display_name=display_name)
    session.add(user)
    unique_grants = {(g.role, g.village_id, g.store_id, g.household_id, g.grid): g for g in roles}.values()
    try:
        await session.flush()
        session.add_all(
            UserRole(
                user_id=user.id,
                role=g.role,
                village_id=g.village_id,
                store_id=g.store_id,
                household_id=g.household_id,
                grid=g.grid,
            )
            for g in unique_grants
        )
        await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_users_username_lower":
            raise DuplicateUsername(f"用户名 {username} 已被使用") from exc
        raise
    await session.refresh(user, ["roles"])
    after = {
        "username": username,
        "display_name": display_name,
        "roles": [
            {
                "role": g.role,
                "village_id": g.village_id,
                "store_id": g.store_id,
                "household_id": g.household_id,
                "grid": g.grid,
            }
            for g in unique_grants
        ],
    }
    # on the record of every village the user gets a role in (the town's for a town administrator)
    for village_id in sorted({g.village_id for g in unique_grants}, key=str):
        await audit.record(
            session,
            actor,
            village_id=village_id,
            action="user.create",
            record_type="user",
            record_id=user.id,
            after=after,
        )
    return user
