"""The role matrix for issue 14's operations: every spreadsheet export reads exactly what its JSON reads,
rule sets and catalogue imports are the village admin's. See tests/role_matrix.py for the rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jifen.kit.timeutil import to_local, utcnow
from tests.factories import World
from tests.role_matrix import (
    SIGNED_IN,
    VILLAGE_STAFF,
    VILLAGE_USERS,
    Operation,
    Scene,
    build_scene,
    check_matrix,
    unique,
)

MONTH = to_local(utcnow()).strftime("%Y-%m")
ADMINS = frozenset({"town_admin", "village_admin"})


@dataclass(frozen=True)
class StoreOperation(Operation):
    def url(self, scene: Scene) -> str:
        return self.path.format(village_a=scene.village_a.id, store_a=scene.store_a.id)


def _rules(scene: Scene) -> dict[str, Any]:
    n = next(unique)
    return {"items": [{"code": f"T{n}", "name": "门前三包", "category": "人居环境", "points": 15}]}


def _rule_file(scene: Scene) -> dict[str, Any]:
    return {"file": ("细则.csv", f"编号,名称,分值\nF{next(unique)},门前三包,15\n".encode(), "text/csv")}


def _item_file(scene: Scene) -> dict[str, Any]:
    return {"file": ("商品.csv", "商品名称,兑换积分\n香皂,5\n".encode("gbk"), "text/csv")}


OPERATIONS = [
    Operation(
        "roll xlsx", "GET", "/villages/{village_a}/households?format=xlsx", VILLAGE_STAFF | {"town_admin"}
    ),
    Operation("ledger xlsx", "GET", "/villages/{village_a}/exports/ledger?period=" + MONTH, ADMINS),
    Operation(
        "ranking xlsx",
        "GET",
        "/villages/{village_a}/rankings?format=xlsx&period=" + MONTH,
        VILLAGE_USERS | {"town_admin"},
    ),
    Operation(
        "red and black lists xlsx",
        "GET",
        "/villages/{village_a}/rankings/lists?format=xlsx&period=" + MONTH,
        VILLAGE_USERS | {"town_admin"},
    ),
    Operation("funding xlsx", "GET", "/villages/{village_a}/funding?format=xlsx", ADMINS),
    StoreOperation(
        "settlement xlsx",
        "GET",
        "/stores/{store_a}/settlement?format=xlsx&period=" + MONTH,
        ADMINS | {"clerk"},
    ),
    Operation(
        "town overview xlsx",
        "GET",
        "/town/overview?format=xlsx",
        frozenset({"town_admin"}),
        hidden_from=frozenset(),
    ),
    Operation("audit xlsx", "GET", "/audit?format=xlsx&village_id={village_a}", ADMINS),
    Operation("rule templates", "GET", "/rule-templates", SIGNED_IN),
    Operation("create a rule set", "POST", "/villages/{village_a}/rules/batch", ADMINS, _rules),
    Operation("preview a rule file", "POST", "/villages/{village_a}/imports/rules", ADMINS, files=_rule_file),
    StoreOperation(
        "preview a catalogue", "POST", "/stores/{store_a}/imports/items", ADMINS, files=_item_file
    ),
]


async def test_sheets_role_matrix(world: World) -> None:
    await check_matrix(world, await build_scene(world), OPERATIONS)
