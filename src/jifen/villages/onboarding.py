"""A village that is not the demo: created with its first village admin (a one-time password they must
change at first sign-in), and the short checklist the admin's dashboard shows until the village is live."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor
from jifen.models import Role, User, Village
from jifen.users.schemas import RoleGrantIn
from jifen.users.service import create_user, one_time_password
from jifen.villages import repository
from jifen.villages.service import create_village


@dataclass(frozen=True)
class NewVillage:
    village: Village
    admin: User
    one_time_password: str  # shown once, never stored in clear


async def create_village_with_admin(
    session: AsyncSession,
    actor: Actor,
    *,
    code: str,
    name: str,
    admin_username: str,
    admin_display_name: str | None = None,
) -> NewVillage:
    """The village, its accounts, and its first village admin, in the caller's transaction: a name already
    taken refuses the whole (no village without an admin)."""
    village = await create_village(session, actor, code=code, name=name)
    password = one_time_password()
    admin = await create_user(
        session,
        actor,
        username=admin_username,
        password=password,
        display_name=admin_display_name or f"{name}管理员",
        roles=[RoleGrantIn(role=Role.village_admin, village_id=village.id)],
    )
    admin.must_change_password = True
    await session.flush()
    return NewVillage(village=village, admin=admin, one_time_password=password)


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    done: bool
    hint: str  # what to do next, for the admin


_STEPS = (
    ("households", "导入花名册", "上传本村的户籍花名册（Excel 或 CSV），或逐户添加"),
    ("rules", "选定积分细则", "添加本村的积分项目：加分、扣分、上限和审核要求"),
    ("store", "开设积分超市并上架商品", "添加积分超市和可兑换的商品"),
    ("staff", "添加工作人员", "为村干部/网格员、审核人和超市店员开设账号"),
    ("award", "第一次评定积分", "村干部为一户评定第一笔积分"),
    ("redemption", "第一次兑换", "店员为村民兑换第一件商品"),
)


async def checklist(session: AsyncSession, village_id: uuid.UUID) -> list[Step]:
    """The steps from an empty village to its first redemption, each done or not, read in one query."""
    done = await repository.setup_done(session, village_id)
    return [Step(key=key, label=label, done=getattr(done, key), hint=hint) for key, label, hint in _STEPS]
