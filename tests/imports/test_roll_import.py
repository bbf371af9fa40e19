"""The household roll import, as a village admin meets it: the sample roll of docs/samples (a merged title
row, members on a second sheet, four deliberate bad rows), the same roll as a GBK CSV, a second import that
changes nothing, one changed phone that changes one member, the column picker, fixed grids; and who may.

One database for the module (each test has its own village): a fresh one per test costs more than the tests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from jifen.imports.samples import GRIDS, SampleHousehold, households, roll_csv, roll_xlsx
from jifen.models import Village
from tests import db
from tests.conftest import own_world
from tests.factories import Person, World
from tests.helpers import assert_error
from tests.role_matrix import Operation, build_scene, check_matrix

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
SAMPLE_XLSX = (SAMPLES / "roll-500.xlsx").read_bytes()
SAMPLE_CSV = (SAMPLES / "roll-500-gbk.csv").read_bytes()
# the sample's deliberate mistakes (samples.with_bad_rows): 504 data rows, 502 codes; XF-0123 is given twice,
# XF-0501 and XF-0502 are bad: 499 households to add
SAMPLE_GOOD = 499


@pytest.fixture(scope="module")
async def world(template: db.TestCluster) -> AsyncIterator[World]:
    async with own_world(template) as world:
        yield world


async def _admin(world: World) -> tuple[Village, Person]:
    from jifen.models import Role
    from jifen.users.schemas import RoleGrantIn

    village = await world.village()
    admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=village.id))
    return village, admin


async def _import(
    world: World,
    village: Village,
    who: Person,
    data: bytes,
    name: str = "roll.xlsx",
    *,
    apply: bool = False,
    columns: dict[str, str] | None = None,
) -> Response:
    return await world.call(
        "POST",
        f"/villages/{village.id}/imports/households",
        who,
        params={"apply": "true"} if apply else None,
        files={"file": (name, data)},
        data={"columns": json.dumps(columns)} if columns else None,
    )


async def _roll(world: World, village: Village) -> dict[str, dict[str, Any]]:
    """The village's households as stored, by code, with their members."""
    async with world.session() as session:
        from sqlalchemy import text

        rows = await session.execute(
            text(
                "SELECT h.code, h.head_name, h.grid, h.address, h.population,"
                " m.id, m.name, m.phone, m.relation FROM households h"
                " LEFT JOIN members m ON m.village_id = h.village_id AND m.household_id = h.id"
                " WHERE h.village_id = :v ORDER BY h.code, m.created_at"
            ),
            {"v": village.id},
        )
        roll: dict[str, dict[str, Any]] = {}
        for code, head, grid, address, population, member_id, name, phone, relation in rows:
            household = roll.setdefault(
                code,
                {
                    "head_name": head,
                    "grid": grid,
                    "address": address,
                    "population": population,
                    "members": {},
                },
            )
            if member_id is not None:
                household["members"][name] = (member_id, phone, relation)
        return roll


async def _import_events(world: World, village: Village) -> list[dict[str, Any]]:
    async with world.session() as session:
        from sqlalchemy import text

        rows = await session.execute(
            text("SELECT after FROM audit_events WHERE scope = :v AND action = 'household.import'"),
            {"v": village.id},
        )
        return [r[0] for r in rows]


async def test_the_sample_roll_previews_writes_nothing_then_imports_once(world: World) -> None:
    village, admin = await _admin(world)

    preview = await _import(world, village, admin, SAMPLE_XLSX, "roll-500.xlsx")

    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["applied"] is False
    assert body["columns_understood"] is True
    first, members = body["tables"]
    assert (first["sheet"], first["header_row"], first["kind"]) == ("花名册", 3, "households")  # 2 title rows
    assert [(c["column"], c["field"]) for c in first["columns"]] == [
        ("A", "code"),
        ("B", "head_name"),
        ("C", "population"),
        ("D", "phone"),
        ("E", "grid"),
        ("F", "address"),
    ]
    assert (members["sheet"], members["kind"]) == ("家庭成员", "members")
    assert body["counts"]["add"] == SAMPLE_GOOD
    assert body["counts"]["change"] == 0
    refused = {(r["sheet"], r["row"]): r for r in body["refused"] if r["sheet"] == "花名册"}
    assert refused[("花名册", 44)]["reasons"] == ["缺少户号"]
    assert [r["code"] for r in refused.values()].count("XF-0123") == 2
    assert any("不止一次" in reason for r in refused.values() for reason in r["reasons"])
    assert any("电话“1380013”" in reason for r in refused.values() for reason in r["reasons"])
    assert any("人口“三口”" in reason for r in refused.values() for reason in r["reasons"])
    assert len(refused) == 5
    assert await _roll(world, village) == {}  # a dry run writes nothing
    assert await _import_events(world, village) == []

    applied = await _import(world, village, admin, SAMPLE_XLSX, "roll-500.xlsx", apply=True)

    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    roll = await _roll(world, village)
    assert len(roll) == SAMPLE_GOOD
    assert "XF-0123" not in roll
    assert "XF-0501" not in roll
    expected = households(500)[0]
    first_household = roll["XF-0001"]
    assert first_household["head_name"] == expected.head
    assert first_household["grid"] == GRIDS[0]
    assert first_household["population"] == expected.population
    assert [(name, relation) for name, (_, _, relation) in first_household["members"].items()] == [
        (name, relation) for name, relation, _ in expected.members
    ]
    assert len({h["grid"] for h in roll.values()}) == 6
    by_api = await world.call("GET", f"/villages/{village.id}/households", admin, params={"q": "XF-0001"})
    shown = await world.call("GET", f"/households/{by_api.json()['items'][0]['id']}", admin)
    assert shown.json()["population"] == expected.population
    assert [m["relation"] for m in shown.json()["members"]] == [r for _, r, _ in expected.members]
    [event] = await _import_events(world, village)
    assert event["sha256"] == body["sha256"]
    assert len(body["sha256"]) == 64
    assert len(event["added"]) == SAMPLE_GOOD

    again = await _import(world, village, admin, SAMPLE_XLSX, "roll-500.xlsx", apply=True)

    assert again.status_code == 200, again.text
    assert again.json()["applied"] is False
    assert again.json()["counts"] | {"refused": 0} == {
        "rows": body["counts"]["rows"],
        "add": 0,
        "change": 0,
        "unchanged": SAMPLE_GOOD,
        "refused": 0,
    }
    assert await _roll(world, village) == roll
    assert len(await _import_events(world, village)) == 1


async def test_the_gbk_csv_imports_with_other_header_names(world: World) -> None:
    village, admin = await _admin(world)

    applied = await _import(world, village, admin, SAMPLE_CSV, "roll-500-gbk.csv", apply=True)

    assert applied.status_code == 200, applied.text
    body = applied.json()
    assert [c["header"] for c in body["tables"][0]["columns"]] == [
        "户编号",
        "户主姓名",
        "家庭人口",
        "联系电话",
        "村民小组",
        "家庭住址",
    ]
    assert body["counts"]["add"] == SAMPLE_GOOD
    assert {(r["row"], r["code"]) for r in body["refused"]} == {
        (42, None),
        (125, "XF-0123"),
        (202, "XF-0123"),
        (302, "XF-0501"),
        (422, "XF-0502"),
    }
    roll = await _roll(world, village)
    sample = households(500)
    assert roll["XF-0500"]["head_name"] == sample[499].head  # decoded from GBK, not mojibake
    assert roll["XF-0500"]["address"] == sample[499].address


async def test_one_changed_phone_changes_one_member(world: World) -> None:
    village, admin = await _admin(world)
    rows = households(30, seed=7)
    rows[4].phone = rows[4].phone or "17000000444"
    first = roll_csv(rows, encoding="utf-8-sig")
    assert (await _import(world, village, admin, first, "roll.csv", apply=True)).status_code == 200
    before = await _roll(world, village)
    rows[4].phone = "17000009999"

    preview = await _import(world, village, admin, roll_csv(rows, encoding="utf-8-sig"), "roll.csv")
    applied = await _import(
        world, village, admin, roll_csv(rows, encoding="utf-8-sig"), "roll.csv", apply=True
    )

    assert preview.json()["counts"] == {"rows": 30, "add": 0, "change": 1, "unchanged": 29, "refused": 0}
    [change] = preview.json()["change"]
    assert change["code"] == rows[4].code
    assert change["changes"] == [
        f"{rows[4].head}的电话：{before[rows[4].code]['members'][rows[4].head][1]} → 17000009999"
    ]
    assert applied.json()["applied"] is True
    after = await _roll(world, village)
    differences = [
        (code, name)
        for code, household in after.items()
        for name, member in household["members"].items()
        if before[code]["members"][name] != member
    ]
    assert differences == [(rows[4].code, rows[4].head)]
    assert after[rows[4].code]["members"][rows[4].head][1] == "17000009999"
    events = await _import_events(world, village)
    assert len(events) == 2
    [line] = events[1]["changed"][rows[4].code]
    assert line.endswith("→ 170****9999")  # masked in the audit trail
    assert "17000009999" not in json.dumps(events[1], ensure_ascii=False)


async def test_one_row_per_person_in_one_sheet(world: World) -> None:
    village, admin = await _admin(world)
    lines = [
        "幸福村家庭成员名单",
        "户号,姓名,与户主关系,手机号码,所属网格",
        "A-1,王大山,户主,17000000011,第一网格",
        "A-1,李小花,配偶,,",
        "A-1,王小山,子,17000000013,",
        "A-2,赵红,户主,,第二网格",
        "A-3,孙某,配偶,,",
    ]

    response = await _import(world, village, admin, "\n".join(lines).encode(), "people.csv", apply=True)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tables"][0]["kind"] == "members"
    assert body["counts"]["add"] == 2
    assert [(r["row"], r["reasons"]) for r in body["refused"]] == [
        (7, ["户号 A-3 不在本村的花名册中，文件里也没有这一户的户主行"])
    ]
    roll = await _roll(world, village)
    assert list(roll["A-1"]["members"]) == ["王大山", "李小花", "王小山"]
    assert roll["A-1"]["head_name"] == "王大山"
    assert roll["A-1"]["grid"] == "第一网格"


async def test_unclear_columns_are_picked_by_the_admin(world: World) -> None:
    village, admin = await _admin(world)
    data = "户号,名称,户主联系电话\nB-1,钱一,17000000021\nB-2,钱二,17000000022\n".encode()

    preview = await _import(world, village, admin, data, "roll.csv")
    refused = await _import(world, village, admin, data, "roll.csv", apply=True)
    picked = await _import(world, village, admin, data, "roll.csv", apply=True, columns={"B": "head_name"})

    body = preview.json()
    assert body["columns_understood"] is False
    assert body["tables"][0]["missing"] == ["户主"]
    assert body["tables"][0]["columns"][2] | {"header": None} == {
        "column": "C",
        "header": None,
        "field": "phone",
        "label": "电话",
        "sure": False,
    }
    assert_error(refused, 400, "columns_not_understood")
    assert picked.status_code == 200, picked.text
    assert picked.json()["counts"]["add"] == 2
    assert (await _roll(world, village))["B-2"]["members"]["钱二"][1] == "17000000022"
    assert_error(
        await _import(world, village, admin, data, "roll.csv", columns={"B": 1}),  # type: ignore[dict-item]
        400,
        "invalid_columns",
    )


async def test_a_fixed_grid_list_refuses_other_grids(world: World) -> None:
    village, admin = await _admin(world)
    fixed = await world.call("PATCH", f"/villages/{village.id}", admin, json={"grids": ["一组", "二组"]})
    assert fixed.status_code == 200, fixed.text
    rows = [
        SampleHousehold("G-1", "周一", 2, None, "一组", None),
        SampleHousehold("G-2", "周二", 2, None, "七组", None),
    ]

    body = (await _import(world, village, admin, roll_xlsx(rows, members_sheet=False))).json()

    assert body["counts"]["add"] == 1
    assert body["refused"][0]["reasons"] == ["网格“七组”不是本村的网格（本村网格：一组、二组）"]


async def test_files_that_are_no_roll_are_refused_with_a_reason(world: World) -> None:
    village, admin = await _admin(world)
    old_excel = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    broken_zip = b"PK\x03\x04" + b"\x00" * 100

    refused = assert_error(
        await _import(world, village, admin, old_excel, "roll.xls"), 400, "unsupported_file"
    )
    assert "另存为" in refused["detail"]
    assert_error(await _import(world, village, admin, broken_zip), 400, "unsupported_file")
    assert_error(await _import(world, village, admin, b"", "empty.csv"), 400, "unsupported_file")
    assert_error(
        await _import(world, village, admin, "随便写的一段话\n".encode(), "a.csv"), 400, "nothing_to_import"
    )


async def test_the_template_downloads_and_imports(world: World) -> None:
    village, admin = await _admin(world)

    template = await world.call("GET", f"/villages/{village.id}/imports/households/template", admin)

    assert template.status_code == 200, template.text
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
    body = (await _import(world, village, admin, template.content, "template.xlsx")).json()
    assert body["counts"]["add"] == 3
    assert body["refused"] == []


async def test_only_the_village_admin_imports(world: World) -> None:
    scene = await build_scene(world)
    tiny = roll_csv(households(2, prefix="RM"), encoding="utf-8")
    admins = frozenset({"town_admin", "village_admin"})
    await check_matrix(
        world,
        scene,
        [
            Operation(
                "import households (dry run)",
                "POST",
                "/villages/{village_a}/imports/households",
                admins,
                files=lambda _: {"file": ("roll.csv", tiny)},
            ),
            Operation(
                "import households (apply)",
                "POST",
                "/villages/{village_a}/imports/households?apply=true",
                admins,
                files=lambda _: {"file": ("roll.csv", tiny)},
            ),
            Operation("roll template", "GET", "/villages/{village_a}/imports/households/template", admins),
            Operation("setup checklist", "GET", "/villages/{village_a}/checklist", admins),
        ],
    )


async def test_a_new_village_comes_with_its_admin_who_must_change_the_password(world: World) -> None:
    town = await world.town_admin()

    created = await world.call(
        "POST", "/villages", town, json={"code": "NEWV", "name": "新村", "admin_username": "newv-admin"}
    )
    taken = await world.call(
        "POST", "/villages", town, json={"code": "NEWV2", "name": "又一村", "admin_username": "newv-admin"}
    )

    assert created.status_code == 201, created.text
    body = created.json()
    password = body["admin"]["one_time_password"]
    assert body["admin"]["username"] == "newv-admin"
    assert len(password) >= 12
    assert_error(taken, 409, "duplicate_username")
    villages = await world.call("GET", "/villages", town, params={"limit": 200})
    assert "NEWV2" not in [v["code"] for v in villages.json()["items"]]  # no village without its admin
    token = await world.client.post(
        "/api/v1/auth/token", data={"username": "newv-admin", "password": password}
    )
    assert token.status_code == 200
    assert token.json()["must_change_password"] is True
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    checklist_url = f"/api/v1/villages/{body['id']}/checklist"
    assert_error(await world.client.get(checklist_url, headers=headers), 403)
    changed = await world.client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"old_password": password, "new_password": "our-own-password-2026"},
    )
    assert changed.status_code == 200, changed.text
    token = await world.client.post(
        "/api/v1/auth/token", data={"username": "newv-admin", "password": "our-own-password-2026"}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    checklist = await world.client.get(checklist_url, headers=headers)
    assert checklist.status_code == 200, checklist.text
    assert checklist.json()["done"] is False
    assert [(s["key"], s["done"]) for s in checklist.json()["steps"]] == [
        ("households", False),
        ("rules", False),
        ("store", False),
        ("staff", False),
        ("award", False),
        ("redemption", False),
    ]
    template = await world.client.get(
        f"/api/v1/villages/{body['id']}/imports/households/template", headers=headers
    )
    imported = await world.client.post(
        f"/api/v1/villages/{body['id']}/imports/households",
        headers=headers,
        params={"apply": "true"},
        files={"file": ("template.xlsx", template.content)},
    )
    assert imported.status_code == 200, imported.text
    after = (await world.client.get(checklist_url, headers=headers)).json()["steps"]
    assert [s["key"] for s in after if s["done"]] == ["households"]
