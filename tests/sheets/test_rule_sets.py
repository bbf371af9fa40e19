"""Rule sets from real villages: the admin picks a set, edits the points, and creates them in one step."""

from __future__ import annotations

from typing import Any

import pytest

from jifen.rules.schemas import RuleCreate
from jifen.rules.templates import SETS
from tests.factories import VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award


@pytest.fixture(scope="module")
async def setup(world: World) -> VillageSetup:
    return await world.setup_village(households=2)


def test_every_template_is_a_rule_the_api_takes() -> None:
    codes = [t.code for s in SETS for t in s.rules]
    assert len(codes) == len(set(codes)), "sets can be combined: no code in two of them"
    for template in (t for s in SETS for t in s.rules):
        RuleCreate.model_validate(template.body())
    names = {t.name for s in SETS for t in s.rules}
    assert {
        "门前三包达标",
        "美丽庭院三星",
        "乱搭乱建",
        "五好家庭",
        "志愿服务（每小时）",
        "和事佬调解纠纷",
    } <= names


async def rules_of(world: World, setup: VillageSetup) -> dict[str, dict[str, Any]]:
    response = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["cadre"])
    return {r["code"]: r for r in response.json()["items"]}


async def test_pick_edit_and_create_a_set(world: World, setup: VillageSetup) -> None:
    library = (await world.call("GET", "/rule-templates", setup.people["village_admin"])).json()["items"]
    environment = next(s for s in library if s["key"] == "environment")
    picked = [{k: v for k, v in r.items() if k != "hint"} for r in environment["rules"]]
    picked[0]["points"] = 20  # this village gives 20 for 门前三包, once a month
    picked[0]["cap"]["count"] = 20
    picked = picked[:-1]  # and has no 三星 courtyard yet
    path = f"/villages/{setup.village.id}/rules/batch"
    created = await world.call("POST", path, setup.people["village_admin"], json={"items": picked})
    assert created.status_code == 201, created.text
    assert [r["code"] for r in created.json()["items"]] == [r["code"] for r in picked]
    rules = await rules_of(world, setup)
    assert rules["MQSB"]["points"] == 20
    assert rules["MQSB-X"]["rectification_share"] == 50
    assert rules["MLTY-2"]["review"] == "single"
    assert "MLTY-3" not in rules
    posted = await award(world, setup.people["village_admin"], setup.households[0].id, rules["MQSB"])
    assert posted.status_code == 201, posted.text
    assert posted.json()["points"] == 20
    events = await world.call(
        "GET", "/audit", setup.people["village_admin"], params={"action": "rule.create", "limit": 50}
    )
    assert len(events.json()["items"]) == len(picked), "one audit event per rule"


async def test_all_or_nothing(world: World, setup: VillageSetup) -> None:
    six = next(s for s in SETS if s.key == "six-messes")
    items = [t.body() for t in six.rules] + [
        next(t for s in SETS for t in s.rules if t.code == "MQSB").body()
    ]
    path = f"/villages/{setup.village.id}/rules/batch"
    refused = await world.call("POST", path, setup.people["village_admin"], json={"items": items})
    body = assert_error(refused, 409, "duplicate_code")
    assert "MQSB" in body["detail"]
    assert "LDLJ" not in await rules_of(world, setup), "nothing of the set was created"
    twice = await world.call("POST", path, setup.people["village_admin"], json={"items": items[:1] * 2})
    assert_error(twice, 409, "duplicate_code")
    bad = [{**items[0], "points": 0}]
    assert (
        await world.call("POST", path, setup.people["village_admin"], json={"items": bad})
    ).status_code == 422


@pytest.mark.parametrize(("who", "status"), [("cadre", 403), ("villager", 403), ("other", 404)])
async def test_only_the_village_admin(world: World, setup: VillageSetup, who: str, status: int) -> None:
    person = (await world.setup_village(households=1)).people["village_admin"] if who == "other" else None
    body = {"items": [next(iter(SETS[3].rules)).body()]}
    path = f"/villages/{setup.village.id}/rules/batch"
    response = await world.call("POST", path, person or setup.people[who], json=body)
    assert response.status_code == status
