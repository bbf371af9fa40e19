"""The demo village `make run` serves: households in three grids, a store, and a user for every role.

Each feature adds its part here, so a fresh `make run` always shows all of jifen working together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import console_actor
from jifen.households.schemas import MemberIn
from jifen.households.service import create_household
from jifen.models import Household, Period, Role, Village
from jifen.store.service import create_store
from jifen.users.schemas import RoleGrantIn
from jifen.users.service import create_user
from jifen.villages.service import create_village

DEMO_PASSWORD = "jifen2026"
GRIDS = ("第一网格", "第二网格", "第三网格")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭"
GIVEN = ("建国", "秀英", "桂兰", "志强", "海燕", "德明", "玉梅", "国庆", "春花", "永福", "丽华", "振华")
LANES = ("东巷", "西巷", "南街", "北街", "村口")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    note: str


DEMO_LOGINS = (
    DemoLogin("town", "town_admin", "镇管理员：所有村"),
    DemoLogin("admin", "village_admin", "村管理员：幸福村"),
    DemoLogin("cadre", "cadre", "网格员：幸福村第一网格"),
    DemoLogin("reviewer", "reviewer", "审核人：幸福村"),
    DemoLogin("clerk", "clerk", "店员：幸福村积分超市"),
    DemoLogin("villager", "villager", "村民：XF-001 户"),
)

_SYSTEM = console_actor("demo")


async def is_empty(session: AsyncSession) -> bool:
    return (await session.execute(select(Village.id).limit(1))).first() is None


async def load_demo(session: AsyncSession, *, seed: int = 2026) -> Village:
    rng = random.Random(seed)
    village = await create_village(session, _SYSTEM, code="XF", name="幸福村")
    store = await create_store(session, _SYSTEM, village, name="幸福村积分超市")
    households: list[Household] = []
    for number in range(1, 31):
        surname = SURNAMES[number - 1]
        head = surname + rng.choice(GIVEN)
        others = rng.sample([g for g in GIVEN if surname + g != head], rng.randrange(1, 4))
        members = [MemberIn(name=head, phone=f"138{rng.randrange(10**8):08d}")]
        members += [MemberIn(name=surname + given) for given in others]
        households.append(
            await create_household(
                session,
                _SYSTEM,
                village,
                code=f"XF-{number:03d}",
                head_name=head,
                grid=GRIDS[(number - 1) // 10],
                address=f"幸福村{rng.choice(LANES)}{number}号",
                members=members,
            )
        )
    await session.flush()
    grants = {
        "town": [RoleGrantIn(role=Role.town_admin)],
        "admin": [RoleGrantIn(role=Role.village_admin, village_id=village.id)],
        "cadre": [RoleGrantIn(role=Role.cadre, village_id=village.id, grid=GRIDS[0])],
        "reviewer": [RoleGrantIn(role=Role.reviewer, village_id=village.id)],
        "clerk": [RoleGrantIn(role=Role.clerk, village_id=village.id, store_id=store.id)],
        "villager": [RoleGrantIn(role=Role.villager, village_id=village.id, household_id=households[0].id)],
    }
    await _load_rules_and_points(session, village, households, rng)
    names = {
        "town": "镇管理员",
        "admin": "村管理员",
        "cadre": "网格员小李",
        "reviewer": "审核人老张",
        "clerk": "店员小王",
        "villager": households[0].head_name,
    }
    for username, roles in grants.items():
        await create_user(
            session,
            _SYSTEM,
            username=username,
            password=DEMO_PASSWORD,
            display_name=names[username],
            roles=roles,
        )
    return village


DEMO_RULES = (
    # code, name, category, points, review
    ("MQSB", "门前三包达标", "人居环境", 15, "none"),
    ("MLTY", "美丽庭院", "人居环境", 20, "none"),
    ("LJFL", "垃圾分类", "人居环境", 10, "none"),
    ("ZYFW", "志愿服务", "公益服务", 10, "none"),
    ("YDLH", "参加月度例会", "村务参与", 5, "none"),
    ("WHJT", "五好家庭", "文明家风", 50, "single"),
    ("JQSY", "家禽散养", "人居环境", -8, "none"),
    ("LDLF", "乱堆乱放", "六乱整治", -5, "none"),
)


async def _load_rules_and_points(
    session: AsyncSession, village: Village, households: list[Household], rng: random.Random
) -> None:
    """The village's rules (积分细则) and a few months of awards and deductions, one of them reversed."""
    from jifen.awards.auth import Submission
    from jifen.awards.repository import HouseholdRef
    from jifen.awards.schemas import AwardItem
    from jifen.awards.service import submit
    from jifen.ledger import repository as ledger_repository
    from jifen.ledger.service import reverse
    from jifen.rules.schemas import Cap
    from jifen.rules.service import create_rule

    rules = {}
    for code, name, category, points, review in DEMO_RULES:
        cap = Cap(count=45, period=Period.day) if points > 0 and review == "none" else None
        created = await create_rule(
            session,
            _SYSTEM,
            village,
            code=code,
            name=name,
            category=category,
            points=points,
            cap=cap,
            evidence_required=review != "none",
            review=review,
        )
        rules[code] = created.rule.id
    refs = {h.id: HouseholdRef(id=h.id, village_id=village.id, code=h.code, grid=h.grid) for h in households}
    submission = Submission(actor=_SYSTEM, village_id=village.id, households=refs)
    # three monthly inspections: everyone scored on frontage, some on courtyard, sorting and volunteering
    for _month in range(3):
        scored = [h for h in households if rng.random() < 0.85]
        items = [AwardItem(household_id=h.id, rule_id=rules["MQSB"]) for h in scored]
        items += [
            AwardItem(household_id=h.id, rule_id=rules["YDLH"]) for h in households if rng.random() < 0.6
        ]
        items += [
            AwardItem(household_id=h.id, rule_id=rules[rng.choice(["MLTY", "LJFL", "ZYFW"])])
            for h in households
            if rng.random() < 0.5
        ]
        await submit(session, _SYSTEM, submission, items)
        deductions = [
            AwardItem(household_id=h.id, rule_id=rules[rng.choice(["JQSY", "LDLF"])], note="网格巡查发现")
            for h in scored  # a deduction never exceeds what the month's frontage award gave
            if rng.random() < 0.15
        ]
        if deductions:
            await submit(session, _SYSTEM, submission, deductions)
    # a model-family nomination waiting for review, and a mistaken award corrected by reversal
    await submit(
        session, _SYSTEM, submission, [AwardItem(household_id=households[2].id, rule_id=rules["WHJT"])]
    )
    [mistake] = await submit(
        session, _SYSTEM, submission, [AwardItem(household_id=households[5].id, rule_id=rules["ZYFW"])]
    )
    assert mistake.transaction_id is not None
    transaction = await ledger_repository.get_transaction(session, mistake.transaction_id)
    assert transaction is not None
    await reverse(session, _SYSTEM, transaction, reason="录入错户，已更正")
