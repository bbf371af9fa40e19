from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from jifen.audit import service as audit
from jifen.auth import repository as auth_repository
from jifen.auth.actor import Actor
from jifen.auth.passwords import hash_password
from jifen.auth.schemas import RoleGrant
from jifen.kit.db import unique_or
from jifen.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from jifen.kit.pagination import BY_TEXT, Page
from jifen.kit.schemas import out_of
from jifen.kit.timeutil import utcnow
from jifen.models import Role, User, UserRole
from jifen.users import repository
from jifen.users.schemas import RoleGrantIn, RoleRemoval, UserCreate, UserOut


def user_out(user: User, villages: set[uuid.UUID] | None = None) -> UserOut:
    """The user with their grants (only those in `villages` when given: another village's stay hidden)."""
    return out_of(
        UserOut,
        user,
        roles=[
            RoleGrant.model_validate(r, from_attributes=True)
            for r in user.roles
            if villages is None or r.village_id in villages
        ],
    )


async def village_users_page(
    session: AsyncSession, village_id: uuid.UUID, *, role: Role | None, cursor: str | None, limit: int
) -> Page[UserOut]:
    """The village's users by username, with the roles they hold in this village (never a password)."""
    after = BY_TEXT.after(cursor)
    users = await repository.village_users(
        session, village_id, role=role, after_username=after[0] if after else None, limit=limit + 1
    )
    page = BY_TEXT.page(users, limit, lambda u: (u.username,))
    return Page(items=[_listed(u) for u in page.items], next_cursor=page.next_cursor)


_GRANTS = TypeAdapter(list[RoleGrant])


def _listed(user: repository.VillageUser) -> UserOut:
    """A listed user as `user_out` answers them (their grants in this village only)."""
    return out_of(UserOut, user, roles=_GRANTS.validate_json(user.roles_json))


class DuplicateUsername(Conflict, code="duplicate_username", detail="用户名已被使用"): ...


class InvalidRole(BadRequest, code="invalid_role", detail="角色的范围不正确"): ...


class RoleScope(NamedTuple):
    """A role that names one place in its village (a clerk's store, a villager's household): the field,
    how to check it is in the village, and what to say when it is missing, elsewhere or not that role's."""

    role: Role
    field: str
    in_village: Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[bool]]
    missing: str
    elsewhere: str
    only: str


ROLE_SCOPES = (
    RoleScope(
        Role.clerk,
        "store_id",
        repository.store_in_village,
        "店员需要指定所在的积分超市 store_id",
        "该积分超市不属于这个村",
        "只有店员可以指定积分超市",
    ),
    RoleScope(
        Role.villager,
        "household_id",
        repository.household_in_village,
        "村民需要指定所属的户 household_id",
        "该户不属于这个村",
        "只有村民可以指定所属的户",
    ),
)


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
    for scope in ROLE_SCOPES:
        value: uuid.UUID | None = getattr(grant, scope.field)
        if grant.role is scope.role:
            if value is None:
                raise InvalidRole(scope.missing)
            if not await scope.in_village(session, grant.village_id, value):
                raise InvalidRole(scope.elsewhere)
        elif value is not None:
            raise InvalidRole(scope.only)
    if grant.grid is not None and grant.role is not Role.cadre:
        raise InvalidRole("只有村干部/网格员可以指定网格")


async def add_user(session: AsyncSession, actor: Actor, body: UserCreate) -> User:
    """The user the API's (the admin page's, the console's) form describes."""
    return await create_user(session, actor, roles=body.roles, **body.model_dump(exclude={"roles"}))


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
    unique_grants = {(g.role, g.village_id, g.store_id, g.household_id, g.grid): g for g in roles}.values()
    with unique_or(DuplicateUsername(f"用户名 {username} 已被使用"), "uq_users_username_lower"):
        await repository.add_user(session, user, [UserRole(**g.model_dump()) for g in unique_grants])
    after = {
        "username": username,
        "display_name": display_name,
        "roles": [g.model_dump() for g in unique_grants],
    }
    # on the record of every village the user gets a role in (the town's for a town administrator)
    for village_id in sorted({g.village_id for g in unique_grants}, key=str):
        await audit.record(
            session,
            actor,
            village_id,
            "user.create",
            user.id,
            after=after,
        )
    return user


# managing users: disable, enable, reset a password, remove a role


class UserNotFound(NotFound, code="not_found", detail="找不到该用户"): ...


class CannotManageSelf(
    Forbidden,
    code="cannot_manage_self",
    detail="不能停用自己、重置自己的密码或取消自己的管理员角色，请联系其他管理员；修改密码请用“修改密码”",
): ...


class CannotManageTownAdmin(
    Forbidden, code="cannot_manage_town_admin", detail="村管理员不能管理镇管理员的账号，请联系镇里"
): ...


class UserInOtherVillage(
    Forbidden,
    code="user_in_other_village",
    detail="该用户在其他村也有角色，停用或重置密码会影响其他村，请联系镇管理员；也可以只取消本村的角色",
): ...


class RoleNotFound(
    NotFound, code="role_not_found", detail="该用户没有这个角色（可能已被取消），请刷新页面后再试"
): ...


# easy to read aloud and to type on a phone: no 0/O, 1/l/I
_ONE_TIME_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
ONE_TIME_PASSWORD_LENGTH = 12


def admin_villages(actor: Actor) -> set[uuid.UUID]:
    """The villages whose users the actor manages (a town admin: every village, so this is not used)."""
    return {g.village_id for g in actor.grants if g.role is Role.village_admin and g.village_id is not None}


def visible_villages(actor: Actor) -> set[uuid.UUID] | None:
    """Whose grants the actor may see on a user: all (None) for a town admin, else their villages."""
    return None if actor.is_town_admin else admin_villages(actor)


async def _managed_user(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, whole_account: bool
) -> User:
    """The user, locked, when the actor may manage them.

    A village admin manages the users of their own village: a user with no role there does not exist for them
    (404); a town admin's account is not theirs to touch; and what acts on the whole account (disabling, a new
    password) is refused when the account also serves a village they do not run.
    """
    user = await auth_repository.lock_user(session, user_id)
    if user is None:
        raise UserNotFound()
    if actor.is_town_admin:
        return user
    mine = admin_villages(actor)
    villages = {r.village_id for r in user.roles}
    if not villages & mine:
        raise UserNotFound()
    if any(r.role is Role.town_admin for r in user.roles):
        raise CannotManageTownAdmin()
    if whole_account and not villages <= mine:
        raise UserInOtherVillage()
    return user


def _scopes(user: User) -> list[uuid.UUID | None]:
    """Where an account-wide change is recorded: every village the user has a role in (the town's record for
    a user with none, or a town admin), as user.create does."""
    villages = {r.village_id for r in user.roles}
    return sorted(villages, key=str) if villages else [None]


async def _record(
    session: AsyncSession,
    actor: Actor,
    user: User,
    action: str,
    *,
    before: Any,
    after: Any,
    reason: str | None,
    scopes: Sequence[uuid.UUID | None] | None = None,
) -> None:
    for village_id in scopes if scopes is not None else _scopes(user):
        await audit.record(
            session,
            actor,
            village_id=village_id,
            action=action,
            record_type="user",
            record_id=user.id,
            before=before,
            after=after,
            reason=reason,
        )


async def disable_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, reason: str) -> User:
    """The user can no longer sign in, and every token and session cookie they hold stops working."""
    user = await _managed_user(session, actor, user_id, whole_account=True)
    if user.id == actor.user_id:
        raise CannotManageSelf("不能停用自己的账号")
    if not user.is_active:
        return user  # already disabled (a second tap): nothing changes, nothing to record
    user.is_active = False
    user.disabled_at = utcnow()
    user.disabled_reason = reason
    user.credential_version += 1
    await auth_repository.save_user(session, user)
    await _record(
        session,
        actor,
        user,
        "user.disable",
        before={"is_active": True},
        after={"is_active": False},
        reason=reason,
    )
    return user


async def enable_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, reason: str | None) -> User:
    """The user may sign in again (sessions from before the disabling stay dead: their version is gone)."""
    user = await _managed_user(session, actor, user_id, whole_account=True)
    if user.is_active:
        return user
    before = {"is_active": False, "disabled_reason": user.disabled_reason}
    user.is_active = True
    user.disabled_at = None
    user.disabled_reason = None
    await auth_repository.save_user(session, user)
    await _record(
        session, actor, user, "user.enable", before=before, after={"is_active": True}, reason=reason
    )
    return user


def one_time_password() -> str:
    return "".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(ONE_TIME_PASSWORD_LENGTH))


async def reset_password(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, reason: str | None
) -> tuple[User, str]:
    """A new one-time password for the user (returned once, never stored in clear); their sessions end and
    they must choose their own password at the next sign-in."""
    user = await _managed_user(session, actor, user_id, whole_account=True)
    if user.id == actor.user_id:
        raise CannotManageSelf("不能重置自己的密码，请用“修改密码”")
    password = one_time_password()
    user.password_hash = await run_in_threadpool(hash_password, password)
    user.must_change_password = True
    user.credential_version += 1
    await auth_repository.save_user(session, user)
    await _record(
        session,
        actor,
        user,
        "user.reset_password",
        before=None,
        after={"must_change_password": True},
        reason=reason,
    )
    return user, password


def _same_grant(held: UserRole, wanted: RoleGrantIn) -> bool:
    return (held.role, held.village_id, held.store_id, held.household_id, held.grid) == (
        wanted.role,
        wanted.village_id,
        wanted.store_id,
        wanted.household_id,
        wanted.grid,
    )


async def remove_role(session: AsyncSession, actor: Actor, user_id: uuid.UUID, removal: RoleRemoval) -> User:
    """Take one grant away; it stops working on the user's next request (grants are read on every request),
    while their other roles and their session go on."""
    user = await _managed_user(session, actor, user_id, whole_account=False)
    if not actor.is_town_admin and removal.village_id not in admin_villages(actor):
        raise RoleNotFound()
    grant = next((r for r in user.roles if _same_grant(r, removal)), None)
    if grant is None:
        raise RoleNotFound()
    if user.id == actor.user_id and grant.role in (Role.village_admin, Role.town_admin):
        raise CannotManageSelf("不能取消自己的管理员角色，请联系其他管理员")
    before = {
        "role": grant.role,
        "village_id": grant.village_id,
        "store_id": grant.store_id,
        "household_id": grant.household_id,
        "grid": grant.grid,
    }
    await repository.remove_grant(session, user, grant)
    await _record(
        session,
        actor,
        user,
        "user.remove_role",
        before=before,
        after=None,
        reason=removal.reason,
        scopes=[grant.village_id],
    )
    return user
